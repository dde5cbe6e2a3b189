// cuda_memory.cpp: the caching allocator, device scratch and pinned host buffers of cuda_memory.h.
#include "backend/cuda/cuda_memory.h"

#include <cuda_runtime_api.h>

#include <string>

#include "backend/cuda/cuda_check.h"
#include "core/error.h"

namespace mp::cuda {

CachingAllocator::~CachingAllocator() {
  for (auto& [size, blocks] : free_)
    for (void* p : blocks) (void)cudaFree(p);  // may fail after the runtime has shut down
  for (const auto* list : {&capture_held_, &retired_})
    for (const Block& b : *list) (void)cudaFree(b.ptr);
}

size_t CachingAllocator::bucket_size(size_t bytes) {
  if (bytes <= 512) return 512;
  // 2^e < bytes <= 2^(e+1): round up to a multiple of 2^(e-2) (5/4, 6/4, 7/4 or 8/4 of 2^e).
  const int e = 63 - __builtin_clzll(static_cast<unsigned long long>(bytes - 1));
  const size_t step = size_t(1) << (e - 2);
  return (bytes + step - 1) / step * step;
}

void* CachingAllocator::alloc(size_t bytes) {
  const size_t b = bucket_size(bytes);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.find(b);
    if (it != free_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      return p;
    }
  }
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, b);
  if (err == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    release_cached();
    err = cudaMalloc(&p, b);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      (void)cudaMemGetInfo(&free_b, &total_b);
      throw ConfigError("out of GPU memory: a tensor of " + std::to_string(bytes) +
                        " bytes does not fit (mptrain holds " + std::to_string(reserved_bytes()) +
                        " bytes, the device has " + std::to_string(free_b) + " of " +
                        std::to_string(total_b) +
                        " free); reduce data.batch_size or the model, or use "
                        "train.accum_steps to keep the global batch");
    }
  }
  MP_CUDA_CHECK(err);
  std::lock_guard<std::mutex> lock(mu_);
  reserved_ += b;
  return p;
}

void CachingAllocator::free(void* p, size_t bytes) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (capturing_)
    capture_held_.push_back(Block{p, bucket_size(bytes)});
  else
    free_[bucket_size(bytes)].push_back(p);
}

void CachingAllocator::begin_capture() {
  std::lock_guard<std::mutex> lock(mu_);
  capturing_ = true;
}

std::vector<CachingAllocator::Block> CachingAllocator::end_capture() {
  std::lock_guard<std::mutex> lock(mu_);
  capturing_ = false;
  std::vector<Block> held;
  held.swap(capture_held_);
  return held;
}

void CachingAllocator::release_blocks(const std::vector<Block>& blocks) {
  std::lock_guard<std::mutex> lock(mu_);
  // Stream-ordered: work queued after the graph's last launch may reuse them at once.
  for (const Block& b : blocks) free_[b.bucket].push_back(b.ptr);
}

void CachingAllocator::graph_created() {
  std::lock_guard<std::mutex> lock(mu_);
  ++graphs_alive_;
}

void CachingAllocator::graph_destroyed() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--graphs_alive_ > 0) return;
  for (const Block& b : retired_) free_[b.bucket].push_back(b.ptr);
  retired_.clear();
}

void CachingAllocator::free_scratch(void* p, size_t bytes) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mu_);
  const Block b{p, bucket_size(bytes)};
  if (capturing_)
    capture_held_.push_back(b);
  else if (graphs_alive_ > 0)
    retired_.push_back(b);
  else
    free_[b.bucket].push_back(p);
}

void CachingAllocator::release_cached() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cached_locked();
}

void CachingAllocator::release_cached_locked() {
  // cudaFree synchronises the device, so no queued kernel still uses a block being freed.
  for (auto& [size, blocks] : free_) {
    for (void* p : blocks) {
      MP_CUDA_CHECK(cudaFree(p));
      reserved_ -= size;
    }
    blocks.clear();
  }
}

size_t CachingAllocator::reserved_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reserved_;
}

void CachingAllocator::add_live(size_t bytes) {
  const size_t now = live_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  size_t prev = peak_.load(std::memory_order_relaxed);
  while (now > prev && !peak_.compare_exchange_weak(prev, now, std::memory_order_relaxed)) {
  }
}

DeviceScratch::~DeviceScratch() {
  if (ptr_) alloc_->free(ptr_, cap_);
}

void* DeviceScratch::get(size_t bytes) {
  if (bytes > cap_ || !ptr_) {
    // Stream-ordered: safe to hand out again at once, unless a graph holds it (free_scratch).
    if (ptr_) alloc_->free_scratch(ptr_, cap_);
    ptr_ = nullptr;
    const size_t want = bytes + bytes / 4;
    ptr_ = alloc_->alloc(want);
    cap_ = want;
  }
  return ptr_;
}

PinnedBuffer::~PinnedBuffer() {
  if (ptr_) (void)cudaFreeHost(ptr_);
}

void* PinnedBuffer::get(size_t bytes) {
  if (bytes > cap_ || !ptr_) {
    if (ptr_) MP_CUDA_CHECK(cudaFreeHost(ptr_));  // the caller synchronised before reusing it
    ptr_ = nullptr;
    const size_t want = bytes < 4096 ? 4096 : bytes + bytes / 4;
    MP_CUDA_CHECK(cudaMallocHost(&ptr_, want));
    cap_ = want;
  }
  return ptr_;
}

}  // namespace mp::cuda
