// cpu_gemm_onednn.h: the CPU GEMM engine. oneDNN matmul primitives are created once per
// (shape, transposes, dtypes, alpha, beta, bias mode) and kept in a cache; transposes are memory
// descriptors with swapped strides (no copies). fp32 and bf16 run natively in oneDNN (fp32
// accumulation, alpha as output scale, beta as a sum post-op, the bias as oneDNN bias when
// alpha == 1, else as a binary-add post-op after scaling), so the output is rounded exactly once.
// fp16 (which oneDNN 2.6 cannot run on CPU) converts A and B exactly to fp32 in reused scratch,
// runs the fp32 GEMM, and rounds the fp32 result (plus beta * C) to fp16 once, with RNE.
#pragma once
#include <cstdint>
#include <memory>

#include "backend/gemm_desc.h"
#include "core/tensor.h"

namespace mp::cpu {

class GemmEngine {
 public:
  explicit GemmEngine(int threads);
  ~GemmEngine();
  GemmEngine(const GemmEngine&) = delete;
  GemmEngine& operator=(const GemmEngine&) = delete;

  // C = alpha * op(A) op(B) + beta * C (+ bias[N]); see Backend::gemm. `s` is the operands'
  // checked shapes (resolve_gemm), not empty.
  void run(const GemmDesc& s, float alpha, const Tensor& A, const Tensor& B, float beta, Tensor& C,
           const Tensor* bias);

  size_t cached_primitives() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mp::cpu
