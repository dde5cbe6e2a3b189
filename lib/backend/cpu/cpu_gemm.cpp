// cpu_gemm.cpp: CpuBackend's GEMM hooks: gemm and gemm_batched, forwarding to the oneDNN
// GemmEngine, and the fused Linear ops, which on this engine are exactly the separate ops they
// stand for (linear_*_by_ops), so fused and unfused models give the same bits.
#include "backend/cpu/cpu_backend.h"

namespace mp::cpu {

void CpuBackend::gemm_impl(const GemmDesc& s, float alpha, const Tensor& A, const Tensor& B,
                           float beta, Tensor& C, const Tensor* bias) {
  gemm_->run(s, alpha, A, B, beta, C, bias);
}

void CpuBackend::linear_gelu_forward_impl(const GemmDesc&, const Tensor& x, const Tensor& w,
                                          const Tensor* bias, Tensor& pre, Tensor& y) {
  linear_gelu_forward_by_ops(*this, x, w, bias, pre, y);
}

void CpuBackend::linear_dgelu_backward_impl(const GemmDesc&, const Tensor& dy, const Tensor& w,
                                            const Tensor& pre, Tensor& dpre) {
  linear_dgelu_backward_by_ops(*this, dy, w, pre, dpre);
}

void CpuBackend::linear_param_grad_impl(const GemmDesc&, const Tensor& dy, const Tensor& x,
                                        float beta, Tensor& dw, Tensor& db) {
  linear_param_grad_by_ops(*this, dy, x, beta, dw, db);
}

}  // namespace mp::cpu
