// cuda_gemm_fused.cpp: CudaBackend's fused Linear hooks (Backend::linear_gelu_forward,
// linear_dgelu_backward, linear_param_grad): one cuBLASLt GEMM with an epilogue
// (GELU_AUX_BIAS, DGELU, BGRADB; GemmEngine in cuda_gemm.cpp, whose header says what each rounds)
// where it applies, else the separate ops they stand for (linear_*_by_ops).
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_gemm.h"

namespace mp::cuda {

void CudaBackend::linear_gelu_forward_impl(const GemmDesc& s, const Tensor& x, const Tensor& w,
                                           const Tensor* bias, Tensor& pre, Tensor& y) {
  bind_device();
  if (gemm_->run_gelu_aux(s, x, w, bias, pre, y, allow_tf32_)) return;
  linear_gelu_forward_by_ops(*this, x, w, bias, pre, y);
}

void CudaBackend::linear_dgelu_backward_impl(const GemmDesc& s, const Tensor& dy, const Tensor& w,
                                             const Tensor& pre, Tensor& dpre) {
  bind_device();
  if (gemm_->run_dgelu(s, dy, w, pre, dpre, allow_tf32_)) return;
  linear_dgelu_backward_by_ops(*this, dy, w, pre, dpre);
}

void CudaBackend::linear_param_grad_impl(const GemmDesc& s, const Tensor& dy, const Tensor& x,
                                         float beta, Tensor& dw, Tensor& db) {
  bind_device();
  if (gemm_->run_bgradb(s, dy, x, beta, dw, db, allow_tf32_)) return;
  linear_param_grad_by_ops(*this, dy, x, beta, dw, db);
}

}  // namespace mp::cuda
