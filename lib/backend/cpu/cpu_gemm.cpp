// cpu_gemm.cpp: CpuBackend::gemm and gemm_batched, forwarding to the oneDNN GemmEngine.
#include "backend/cpu/cpu_backend.h"

namespace mp::cpu {

void CpuBackend::gemm(bool trans_a, bool trans_b, float alpha, const Tensor& A, const Tensor& B,
                      float beta, Tensor& C, const Tensor* bias) {
  gemm_->run(trans_a, trans_b, alpha, A, B, beta, C, bias, false);
}

void CpuBackend::gemm_batched(bool trans_a, bool trans_b, float alpha, const Tensor& A,
                              const Tensor& B, float beta, Tensor& C) {
  gemm_->run(trans_a, trans_b, alpha, A, B, beta, C, nullptr, true);
}

}  // namespace mp::cpu
