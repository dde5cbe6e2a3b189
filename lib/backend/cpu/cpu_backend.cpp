// cpu_backend.cpp: CpuBackend construction, name, memory (64-byte aligned tensors with a live/peak
// counter, host copies) and make_cpu_backend().
#include "backend/cpu/cpu_backend.h"

#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <dnnl.hpp>

#include "backend/cpu/cpu_parallel.h"

namespace mp::cpu {

namespace {
// threads > 0 as given; 0: OMP_NUM_THREADS (its first entry) when set, else every core. The
// environment is read directly: omp_get_max_threads() would reflect an earlier backend's setting.
int resolve_threads(int threads) {
  MP_CHECK(threads >= 0, "make_cpu_backend: threads must be >= 0, got " + std::to_string(threads));
  if (threads > 0) return threads;
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return std::max(1, omp_get_num_procs());
}
}  // namespace

CpuBackend::CpuBackend(int threads)
    : threads_(resolve_threads(threads)),
      mem_(std::make_shared<MemoryCounter>()),
      gemm_(std::make_unique<GemmEngine>(threads_)),
      conv_(std::make_unique<ConvEngine>(threads_)) {
  // oneDNN's OpenMP runtime sizes its parallel regions from the calling thread's max threads.
  omp_set_num_threads(threads_);
}

CpuBackend::~CpuBackend() = default;

// oneDNN runs bf16 GEMMs on AVX512-BF16 or AMX-BF16 natively and emulates them elsewhere; fp16
// GEMMs are always widened to fp32 here (cpu_gemm_onednn.cpp), so fp16 is never native.
NativeLowPrecision CpuBackend::native_low_precision() const {
  __builtin_cpu_init();
  NativeLowPrecision n;
  const bool amx = __builtin_cpu_supports("amx-bf16");
  const bool avx512 = __builtin_cpu_supports("avx512bf16");
  n.bf16 = amx || avx512;
  n.detail = amx      ? "this CPU has AMX-BF16"
             : avx512 ? "this CPU has AVX512-BF16"
                      : "this CPU has neither AVX512-BF16 nor AMX-BF16, so bf16 and fp16 GEMMs "
                        "would only be emulated";
  return n;
}

std::string CpuBackend::name() const {
  const dnnl_version_t* v = dnnl_version();
  return "cpu (oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch) + ", " + std::to_string(threads_) +
         (threads_ == 1 ? " thread)" : " threads)");
}

Tensor CpuBackend::empty_impl(const Shape& shape, DType dtype) {
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  void* p = aligned_malloc(bytes);
  mem_->add(bytes);
  std::shared_ptr<MemoryCounter> mem = mem_;
  auto storage = std::make_shared<Storage>(p, bytes, Device::CPU, [mem, bytes](void* q) {
    aligned_free(q);
    mem->sub(bytes);
  });
  return Tensor(std::move(storage), 0, shape, dtype);
}

void CpuBackend::upload_impl(const void* host, Tensor& dst) {
  if (dst.nbytes()) std::memcpy(dst.raw(), host, dst.nbytes());
}

void CpuBackend::download_impl(const Tensor& src, void* host) {
  if (src.nbytes()) std::memcpy(host, src.raw(), src.nbytes());
}

void CpuBackend::copy_impl(const Tensor& src, Tensor& dst) {
  const int64_t bytes = static_cast<int64_t>(src.nbytes());
  const char* s = static_cast<const char*>(src.raw());
  char* d = static_cast<char*>(dst.raw());
  if (s == d || bytes == 0) return;
  if (s < d + bytes && d < s + bytes) {  // overlapping views of one storage: one ordered move
    std::memmove(d, s, static_cast<size_t>(bytes));
    return;
  }
  constexpr int64_t kChunk = 1 << 20;
  const int64_t chunks = (bytes + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) num_threads(threads_) if (chunks > 1)
  for (int64_t c = 0; c < chunks; ++c)
    std::memmove(d + c * kChunk, s + c * kChunk,
                 static_cast<size_t>(std::min(kChunk, bytes - c * kChunk)));
}

size_t CpuBackend::peak_memory_bytes() const { return mem_->peak.load(); }
size_t CpuBackend::live_memory_bytes() const { return mem_->live.load(); }

float* CpuBackend::thread_scratch(size_t per_thread, size_t* stride) {
  const size_t s = (per_thread + 15) / 16 * 16;
  if (stride) *stride = s;
  return thread_scratch_.get_as<float>(s * static_cast<size_t>(threads_));
}

}  // namespace mp::cpu

namespace mp {
std::unique_ptr<Backend> make_cpu_backend(int threads) {
  return std::make_unique<cpu::CpuBackend>(threads);
}
}  // namespace mp
