// cuda_gemm.h: the CUDA GEMM engine on cuBLASLt, and the launcher of its epilogue kernel.
//
// Semantics are Backend::gemm's, as the CPU engine implements them: fp32 accumulation
// (CUBLAS_COMPUTE_32F; CUBLAS_COMPUTE_32F_FAST_TF32 for fp32 inputs only when allow_tf32), alpha
// and beta in fp32, beta = 0 never reads C, the bias added in fp32, and ONE rounding of the fp32
// result to C's dtype. Row-major operands are handed to column-major cuBLASLt by swapping them:
// C^T = op(B)^T op(A)^T, so cuBLASLt's "A" is our B and its "B" is our A; C keeps its memory.
// Bias, in order of preference:
//   - cuBLASLt's BIAS epilogue (fp32 math before the output rounding) when alpha == 1, the bias
//     has C's dtype (cuBLASLt's rule), is 16-byte aligned, and an algorithm supports it;
//   - C fp32: the GEMM writes alpha*op(A)op(B) + beta*C into C, then C += bias (fp32);
//   - C fp16/bf16: the GEMM writes alpha*op(A)op(B) into an fp32 workspace, then one kernel
//     rounds workspace + bias + beta*C into C (the CPU engine's fp16 path, step for step).
// K = 0 is that kernel alone (C = beta*C + bias). Batched GEMMs use strided batches.
// Plans (matmul descriptor, layouts, the heuristic's algorithms) are cached per shape key,
// including each pointer's alignment (the bias pointer's too), which restricts the algorithms
// cuBLASLt may pick. Split-K partial sums are reduced in fp32 only; the heuristic's candidates are
// tried in order at a plan's first execution, and the GEMM fails (naming its shape and dtypes)
// only when cuBLASLt refuses all of them (cuda_gemm.cpp).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>

#include "backend/cuda/cuda_memory.h"
#include "backend/gemm_desc.h"
#include "core/tensor.h"

namespace mp::cuda {

class GemmEngine {
 public:
  GemmEngine(cudaStream_t stream, std::shared_ptr<CachingAllocator> alloc);
  ~GemmEngine();
  GemmEngine(const GemmEngine&) = delete;
  GemmEngine& operator=(const GemmEngine&) = delete;

  // See Backend::gemm / gemm_batched. `s` is the operands' checked shapes (resolve_gemm), not
  // empty.
  void run(const GemmDesc& s, float alpha, const Tensor& A, const Tensor& B, float beta, Tensor& C,
           const Tensor* bias, bool allow_tf32);

  size_t cached_plans() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The epilogue kernel (cuda_gemm_epilogue.cu): for i < count, with j = i % N,
//   C[i] = round_C( ((w ? w[i] : 0) + (bias ? bias[j] : 0)) + (beta != 0 ? beta * C[i] : 0) ),
// where w is fp32, bias is fp32 or C's dtype, and C is read only when beta != 0. w may be C
// itself when C is fp32 (each element is read before it is written).
void launch_gemm_finish(cudaStream_t stream, const float* w, const void* bias, DType bias_dt,
                        float beta, void* c, DType c_dt, int64_t count, int64_t N);

}  // namespace mp::cuda
