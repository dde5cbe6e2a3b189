// cpu_gemm.cpp: CpuBackend's GEMM hook (gemm and gemm_batched), forwarding to the oneDNN
// GemmEngine.
#include "backend/cpu/cpu_backend.h"

namespace mp::cpu {

void CpuBackend::gemm_impl(const GemmDesc& s, float alpha, const Tensor& A, const Tensor& B,
                           float beta, Tensor& C, const Tensor* bias) {
  gemm_->run(s, alpha, A, B, beta, C, bias);
}

}  // namespace mp::cpu
