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
//
// The Linear + GELU epilogues (Backend::linear_gelu_forward, linear_dgelu_backward,
// linear_param_grad; CudaBackend's hooks in cuda_gemm_fused.cpp fall back to the composed ops
// whenever a run_* below returns false). What cuBLASLt rounds, against the CPU engine's
// composition (D is the layer dtype; for D = fp32 both round nothing in between):
//   - GELU_AUX_BIAS: acc + bias in fp32 = p; aux (pre) = round_D(p); y = round_D(gelu(p)).
//     CPU: pre = round_D(p) likewise, but y = round_D(gelu(pre)): for fp16/bf16 cuBLASLt's y
//     misses the rounding of pre, a difference of up to |gelu'| (< 1.13) x half an ulp of pre,
//     plus one ulp of y. cuBLASLt's GELU is the tanh form (GPT-2's, what gelu_tanh computes), its
//     tanh its own: a few fp32 ulps apart from kernels/activations.h even for fp32.
//   - DGELU: y = round_D(acc * gelu'(aux)) with acc the fp32 product dy w; CPU:
//     round_D(round_D(acc) * gelu'(pre)): again one rounding fewer for fp16/bf16.
//   - BGRADB: dw = acc + beta * dw in fp32 (C = fp32, as the plain GEMM), and the column sums of
//     dy into an fp32 scratch in cuBLASLt's order; db = beta * db + scratch (launch_gemm_finish).
//     The sums differ from bias_grad's only by fp32 summation order. cuBLASLt overwrites its bias
//     gradient (no beta of its own): hence the scratch, not db itself.
// Not used: DGELU_BGRAD (its bias gradient has the output's type: a 16-bit dpre would round the
// fp32 column sums to 16 bits before the fp32 db; BGRADB on the fp32 dW GEMM keeps them fp32).
// The epilogue is not used (run_* returns false) when: K = 0; the GEMM is batched; the aux
// matrix's leading dimension (our N) is not a multiple of 8 (cuBLASLt's rule) or pre is not
// 16-byte aligned; a bias is not of the output's dtype or not 16-byte aligned; dw is not fp32;
// or cuBLASLt has no algorithm for the combination or refuses all the heuristic's candidates.
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

  // The epilogue GEMMs described above; false (nothing launched) when the epilogue does not
  // apply, and the caller then composes the separate ops. `s` is resolve_gemm's for, in order:
  // x w^T into y (GELU_AUX[_BIAS], aux = pre), dy w into dpre (DGELU, aux = pre), and dy^T x
  // into dw (BGRADB, bias gradient of dy's columns into db with beta).
  bool run_gelu_aux(const GemmDesc& s, const Tensor& x, const Tensor& w, const Tensor* bias,
                    Tensor& pre, Tensor& y, bool allow_tf32);
  bool run_dgelu(const GemmDesc& s, const Tensor& dy, const Tensor& w, const Tensor& pre,
                 Tensor& dpre, bool allow_tf32);
  bool run_bgradb(const GemmDesc& s, const Tensor& dy, const Tensor& x, float beta, Tensor& dw,
                  Tensor& db, bool allow_tf32);

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
