// cuda_check.h: the checks around every CUDA runtime call and kernel launch of the CUDA backend.
// A failed call throws mp::InternalError naming the file, the line, the call and CUDA's error
// string (a CUDA error inside mptrain is a bug or a broken device, never the user's input).
//   MP_CUDA_CHECK(cudaMemcpyAsync(...));
//   kernel<<<grid, block, 0, stream>>>(...); MP_CUDA_LAUNCH_CHECK("kernel");
// cuBLAS(Lt) calls use MP_CUBLAS_CHECK (cuda_gemm.cpp), built on the same failure function.
// MPTRAIN_CUDA_SYNC_CHECK=1 (env_flag.h; read once, at the first backend's construction) makes
// every launch check, and every cuBLASLt matmul, also synchronise the device and check, so that
// a fault inside a kernel names that kernel instead of surfacing at a later, unrelated call.
// Off, it costs one test of a cached bool per launch. For debugging and compute-sanitizer runs
// (scripts/gpu_check.sh), never for speed.
#pragma once
#include <cuda_runtime_api.h>

#include <string>

#include "backend/env_flag.h"
#include "core/error.h"

namespace mp::cuda {

[[noreturn]] inline void cuda_fail(const char* file, int line, const char* call, cudaError_t err) {
  internal_fail(
      file, line,
      std::string(call) + " failed: " + cudaGetErrorName(err) + ": " + cudaGetErrorString(err));
}

// MPTRAIN_CUDA_SYNC_CHECK, read on the first call (a bad value is a ConfigError from there).
inline bool sync_check_enabled() {
  static const bool on = env_flag("MPTRAIN_CUDA_SYNC_CHECK");
  return on;
}

// True on the thread that is capturing a CUDA graph (CudaBackend::capture_begin_impl): the sync
// check cannot synchronise inside a capture (the captured kernels have not run); the graph's
// launch is checked instead.
inline bool& capturing_graph() {
  static thread_local bool on = false;
  return on;
}

// Whether to synchronise after this launch (MPTRAIN_CUDA_SYNC_CHECK, not while capturing).
inline bool sync_check_now() { return sync_check_enabled() && !capturing_graph(); }

// What MP_CUDA_LAUNCH_CHECK does: the launch's own error, then (sync check on) the kernel's.
inline void launch_check(const char* file, int line, const char* what) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    cuda_fail(file, line, (std::string("launch of ") + what).c_str(), err);
  if (sync_check_now()) {
    err = cudaDeviceSynchronize();
    if (err != cudaSuccess)
      cuda_fail(file, line,
                (std::string(what) + " (MPTRAIN_CUDA_SYNC_CHECK: synchronised after it)").c_str(),
                err);
  }
}

}  // namespace mp::cuda

#define MP_CUDA_CHECK(call)                                           \
  do {                                                                \
    const cudaError_t mp_cuda_err_ = (call);                          \
    if (mp_cuda_err_ != cudaSuccess)                                  \
      ::mp::cuda::cuda_fail(__FILE__, __LINE__, #call, mp_cuda_err_); \
  } while (0)

// After a <<<...>>> launch of the kernel named `what`: configuration errors (bad grid, too many
// resources) show up here; faults inside the kernel surface at the next synchronising call, which
// is checked too, or here with MPTRAIN_CUDA_SYNC_CHECK=1.
#define MP_CUDA_LAUNCH_CHECK(what) ::mp::cuda::launch_check(__FILE__, __LINE__, what)
