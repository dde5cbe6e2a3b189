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

#include "core/tensor.h"

namespace mp::cpu {

class GemmEngine {
 public:
  explicit GemmEngine(int threads);
  ~GemmEngine();
  GemmEngine(const GemmEngine&) = delete;
  GemmEngine& operator=(const GemmEngine&) = delete;

  // C = alpha * op(A) op(B) + beta * C (+ bias[N]); see Backend::gemm. A 2-D view of each operand
  // is taken as rows() x cols() (leading dims flattened). batch > 0: 3-D operands [batch, ., .].
  void run(bool trans_a, bool trans_b, float alpha, const Tensor& A, const Tensor& B, float beta,
           Tensor& C, const Tensor* bias, bool batched);

  size_t cached_primitives() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mp::cpu
