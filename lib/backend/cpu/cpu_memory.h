// cpu_memory.h: 64-byte aligned host allocation for the CPU backend: the live/peak byte counter
// that tensors report to, and a growable scratch buffer reused across calls (GEMM conversions,
// per-thread row staging) so hot paths stop allocating after warm-up.
#pragma once
#include <atomic>
#include <cstddef>
#include <memory>

namespace mp::cpu {

constexpr size_t kAlign = 64;

void* aligned_malloc(size_t bytes);  // never null (throws std::bad_alloc); bytes may be 0
void aligned_free(void* p);

// Live and high-water bytes of tensor storage; shared with the deleters of every tensor allocated,
// so it outlives the backend if tensors do.
struct MemoryCounter {
  std::atomic<size_t> live{0};
  std::atomic<size_t> peak{0};
  void add(size_t bytes);
  void sub(size_t bytes) { live.fetch_sub(bytes, std::memory_order_relaxed); }
};

// A buffer that only grows; contents are not preserved across grow().
class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  ~ScratchBuffer() { aligned_free(ptr_); }
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  void* get(size_t bytes);  // at least `bytes`, 64-byte aligned
  template <class T> T* get_as(size_t count) { return static_cast<T*>(get(count * sizeof(T))); }
  size_t capacity() const { return cap_; }

 private:
  void* ptr_ = nullptr;
  size_t cap_ = 0;
};

}  // namespace mp::cpu
