// cuda_random.cu: CudaBackend::random_uniform and random_normal: element i of the Philox stream
// (seed, offset) via kernels/random.h, rounded once to the tensor's dtype. Uniform fills are the
// CPU backend's bit for bit (integer Philox, then the same fp32 arithmetic). Normal fills use
// Box-Muller with the device's logf/cosf/sqrtf, which may differ from glibc's by an ulp or two, so
// a normal value can differ from the CPU's in its last bits (the stream and the pairing are the
// same; never a different sample).
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_launch.cuh"
#include "kernels/random.h"

namespace mp::cuda {

namespace {

template <class T>
__global__ void uniform_kernel(T* x, float lo, float hi, uint64_t seed, uint64_t offset,
                               int64_t n) {
  MP_GRID_STRIDE(i, n) {
    const uint64_t e = static_cast<uint64_t>(i);
    x[i] = from_float<T>(kernels::uniform_element(seed, offset, e, lo, hi));
  }
}

template <class T>
__global__ void normal_kernel(T* x, float mean, float stddev, uint64_t seed, uint64_t offset,
                              int64_t n) {
  MP_GRID_STRIDE(i, n) {
    const uint64_t e = static_cast<uint64_t>(i);
    x[i] = from_float<T>(kernels::normal_element(seed, offset, e, mean, stddev));
  }
}

}  // namespace

void CudaBackend::random_uniform_impl(Tensor& x, float lo, float hi, uint64_t seed,
                                      uint64_t offset) {
  const int64_t n = x.numel();
  if (n == 0) return;
  dispatch_float(x.dtype(), "random_uniform", [&](auto tag) {
    using T = decltype(tag);
    uniform_kernel<T><<<blocks_for(n), kThreads, 0, bound_stream()>>>(
        ptr<T>(x), lo, hi, seed, offset, n);
    MP_CUDA_LAUNCH_CHECK("uniform_kernel");
  });
}

void CudaBackend::random_normal_impl(Tensor& x, float mean, float std, uint64_t seed,
                                     uint64_t offset) {
  const int64_t n = x.numel();
  if (n == 0) return;
  dispatch_float(x.dtype(), "random_normal", [&](auto tag) {
    using T = decltype(tag);
    normal_kernel<T>
        <<<blocks_for(n), kThreads, 0, bound_stream()>>>(ptr<T>(x), mean, std, seed, offset, n);
    MP_CUDA_LAUNCH_CHECK("normal_kernel");
  });
}

}  // namespace mp::cuda
