// cuda_check.h: the checks around every CUDA runtime call and kernel launch of the CUDA backend.
// A failed call throws mp::InternalError naming the file, the line, the call and CUDA's error
// string (a CUDA error inside mptrain is a bug or a broken device, never the user's input).
//   MP_CUDA_CHECK(cudaMemcpyAsync(...));
//   kernel<<<grid, block, 0, stream>>>(...); MP_CUDA_LAUNCH_CHECK();
// cuBLAS(Lt) calls use MP_CUBLAS_CHECK (cuda_gemm.cpp), built on the same failure function.
#pragma once
#include <cuda_runtime_api.h>

#include <string>

#include "core/error.h"

namespace mp::cuda {

[[noreturn]] inline void cuda_fail(const char* file, int line, const char* call, cudaError_t err) {
  internal_fail(
      file, line,
      std::string(call) + " failed: " + cudaGetErrorName(err) + ": " + cudaGetErrorString(err));
}

}  // namespace mp::cuda

#define MP_CUDA_CHECK(call)                                           \
  do {                                                                \
    const cudaError_t mp_cuda_err_ = (call);                          \
    if (mp_cuda_err_ != cudaSuccess)                                  \
      ::mp::cuda::cuda_fail(__FILE__, __LINE__, #call, mp_cuda_err_); \
  } while (0)

// After a <<<...>>> launch: configuration errors (bad grid, too many resources) show up here;
// faults inside the kernel surface at the next synchronising call, which is checked too.
#define MP_CUDA_LAUNCH_CHECK() MP_CUDA_CHECK(cudaGetLastError())
