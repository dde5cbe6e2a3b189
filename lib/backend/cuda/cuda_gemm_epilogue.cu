// cuda_gemm_epilogue.cu: the GEMM epilogue kernel of cuda_gemm.h (launch_gemm_finish): adds the
// bias and beta*C to an fp32 GEMM result and rounds once to C's dtype; with no result (K = 0) it
// is C = beta*C + bias. The order of the additions is the CPU engine's fp16 path:
// (product + bias) + beta*C, and C is not read when beta == 0 (a NaN there does not leak).
#include "backend/cuda/cuda_gemm.h"
#include "backend/cuda/cuda_launch.cuh"

namespace mp::cuda {

namespace {

template <class T, class TB>
__global__ void gemm_finish_kernel(const float* w, const TB* bias, float beta, T* c, int64_t count,
                                   int64_t N) {
  MP_GRID_STRIDE(i, count) {
    float v = w ? w[i] : 0.0f;
    if (bias) v += to_float(bias[i % N]);
    if (beta != 0.0f) v += beta * to_float(c[i]);
    c[i] = from_float<T>(v);
  }
}

}  // namespace

void launch_gemm_finish(cudaStream_t stream, const float* w, const void* bias, DType bias_dt,
                        float beta, void* c, DType c_dt, int64_t count, int64_t N) {
  if (count == 0) return;
  MP_CHECK(!bias || bias_dt == DType::F32 || bias_dt == c_dt,
           "gemm: bias must be fp32 or C's dtype");
  dispatch_float(c_dt, "gemm", [&](auto tag) {
    using T = decltype(tag);
    if (bias && bias_dt != DType::F32) {
      gemm_finish_kernel<T, T><<<blocks_for(count), kThreads, 0, stream>>>(
          w, static_cast<const T*>(bias), beta, static_cast<T*>(c), count, N);
    } else {
      gemm_finish_kernel<T, float><<<blocks_for(count), kThreads, 0, stream>>>(
          w, static_cast<const float*>(bias), beta, static_cast<T*>(c), count, N);
    }
    MP_CUDA_LAUNCH_CHECK("gemm_finish_kernel");
  });
}

}  // namespace mp::cuda
