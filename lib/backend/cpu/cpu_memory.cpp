// cpu_memory.cpp: aligned allocation, the memory counter and scratch buffers of cpu_memory.h.
#include "backend/cpu/cpu_memory.h"

#include <cstdlib>
#include <new>

namespace mp::cpu {

void* aligned_malloc(size_t bytes) {
  const size_t rounded = ((bytes == 0 ? 1 : bytes) + kAlign - 1) / kAlign * kAlign;
  void* p = std::aligned_alloc(kAlign, rounded);
  if (!p) throw std::bad_alloc();
  return p;
}

void aligned_free(void* p) { std::free(p); }

void MemoryCounter::add(size_t bytes) {
  const size_t now = live.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  size_t prev = peak.load(std::memory_order_relaxed);
  while (now > prev && !peak.compare_exchange_weak(prev, now, std::memory_order_relaxed)) {
  }
}

void* ScratchBuffer::get(size_t bytes) {
  if (bytes > cap_) {
    aligned_free(ptr_);
    ptr_ = nullptr;
    cap_ = 0;
    // Grow geometrically so a slowly increasing size does not reallocate every call.
    const size_t want = bytes + bytes / 4;
    ptr_ = aligned_malloc(want);
    cap_ = want;
  }
  return ptr_;
}

}  // namespace mp::cpu
