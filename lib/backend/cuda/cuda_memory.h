// cuda_memory.h: device memory for the CUDA backend.
//   CachingAllocator: cudaMalloc'd blocks in size buckets (four per power of two, so at most 25 %
//     is wasted), kept in a free list when a tensor dies and handed out again for the next request
//     of the same bucket; cudaMalloc only runs while the working set grows, so the step loop does
//     not allocate after warm-up. On out-of-memory the cache is released and the request retried.
//     All work runs on one stream, so a block freed on the host may be reused at once: every
//     kernel that used it was queued before any kernel that uses it again.
//     It also keeps the live/peak byte counter of tensor storage (requested bytes, as the CPU
//     backend counts). Shared (shared_ptr) with every tensor's deleter, so it outlives the backend
//     if tensors do; thread-safe (tensors may be freed on any thread).
//   DeviceScratch: a grow-only device buffer from the allocator for per-op workspaces (GEMM fp32
//     staging, reduction partials), reused across calls; a graph may hold its block, so a grown
//     scratch's old block is retired, not reused, while graphs live (free_scratch).
//   PinnedBuffer: grow-only page-locked host memory for small results copied back (reductions).
#pragma once
#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace mp::cuda {

class CachingAllocator {
 public:
  CachingAllocator() = default;
  ~CachingAllocator();  // frees the cached blocks (errors ignored: this may run at process exit)
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // Bucket size for a request (>= bytes, >= 512).
  static size_t bucket_size(size_t bytes);
  // A block of bucket_size(bytes) bytes (256-byte aligned); never null.
  void* alloc(size_t bytes);
  // Return a block obtained from alloc(bytes) to the cache.
  void free(void* p, size_t bytes);
  // cudaFree every cached block (called on out-of-memory and at destruction).
  void release_cached();

  // Tensor accounting (requested bytes of live tensors, and its high-water mark).
  // ---- CUDA graphs (cuda_graph.cpp) ----
  // A captured graph's kernels use the blocks they used while being captured at every replay, so
  // a block freed during a capture (an op's temporary) is held for the graph instead of cached:
  // end_capture hands the held blocks over, and release_blocks returns them when the graph dies.
  struct Block {
    void* ptr;
    size_t bucket;
  };
  void begin_capture();
  std::vector<Block> end_capture();
  void release_blocks(const std::vector<Block>& blocks);
  // Scratch buffers (DeviceScratch) are shared by captured and eager work: while any graph lives,
  // a scratch that grows retires its old block here (it may be a graph's) until the last graph is
  // destroyed.
  void graph_created();
  void graph_destroyed();
  void free_scratch(void* p, size_t bytes);

  void add_live(size_t bytes);
  void sub_live(size_t bytes) { live_.fetch_sub(bytes, std::memory_order_relaxed); }
  size_t live_bytes() const { return live_.load(); }
  size_t peak_bytes() const { return peak_.load(); }
  size_t reserved_bytes() const;  // held from cudaMalloc: in use plus cached

 private:
  void release_cached_locked();
  mutable std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;  // bucket size -> cached blocks
  bool capturing_ = false;
  std::vector<Block> capture_held_;  // freed during the capture in progress
  int graphs_alive_ = 0;
  std::vector<Block> retired_;  // scratch blocks retired while graphs live
  size_t reserved_ = 0;
  std::atomic<size_t> live_{0};
  std::atomic<size_t> peak_{0};
};

class DeviceScratch {
 public:
  explicit DeviceScratch(std::shared_ptr<CachingAllocator> a) : alloc_(std::move(a)) {}
  ~DeviceScratch();
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;
  void* get(size_t bytes);  // at least `bytes`; contents are not kept when it grows
  template <class T>
  T* get_as(size_t count) {
    return static_cast<T*>(get(count * sizeof(T)));
  }

 private:
  std::shared_ptr<CachingAllocator> alloc_;
  void* ptr_ = nullptr;
  size_t cap_ = 0;
};

class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  ~PinnedBuffer();
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  void* get(size_t bytes);
  template <class T>
  T* get_as(size_t count) {
    return static_cast<T*>(get(count * sizeof(T)));
  }

 private:
  void* ptr_ = nullptr;
  size_t cap_ = 0;
};

}  // namespace mp::cuda
