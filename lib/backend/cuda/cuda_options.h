// cuda_options.h: settings of the CUDA engine that are not part of the Backend interface, in a
// CUDA-free header so that code built without nvcc (the trainer, tests) can set them. Every
// function here exists in every build: without the CUDA backend, or on a backend that is not a
// CUDA one, the setters do nothing and report it.
#pragma once
#include <memory>

#include "backend/backend.h"

namespace mp {

struct CudaOptions {
  // fp32 GEMMs may use TF32 tensor cores (CUBLAS_COMPUTE_32F_FAST_TF32: inputs rounded to a
  // 10-bit mantissa, fp32 accumulation). Off by default: fp32 GEMMs then match the CPU backend
  // within fp32 accumulation-order bounds. fp16/bf16 GEMMs are unaffected (always fp32 compute).
  bool allow_tf32 = false;
};

// The CUDA engine on device `ordinal` with `opt`; ConfigError when CUDA is not available.
// make_cuda_backend(ordinal) (backend.h) is this with default options.
std::unique_ptr<Backend> make_cuda_backend(int ordinal, const CudaOptions& opt);

// precision.allow_tf32 for an existing backend (e.g. the one make_backend returned). Returns true
// when `be` is a CUDA backend and the setting was applied; false (and nothing changes) for the CPU
// backend, which never uses TF32. Takes effect from the next GEMM.
bool set_allow_tf32(Backend& be, bool allow);

}  // namespace mp
