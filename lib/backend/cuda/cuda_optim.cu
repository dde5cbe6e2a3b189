// cuda_optim.cu: CudaBackend::sgd_step and adamw_step: one grid-stride kernel per (param dtype,
// grad dtype) pair over kernels/optim_update.h on fp32 state. The updated parameter is stored with
// round_param: round-to-nearest-even, or for bf16 parameters with Rounding::stochastic, stochastic
// rounding from philox_bits(seed, offset, Rounding::first + element index) -- the CPU backend's
// bits exactly.
// AdamW's bias corrections are computed once on the host (kernels::adamw_coeffs, fp64).
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_launch.cuh"
#include "core/philox.h"
#include "kernels/optim_update.h"

namespace mp::cuda {

namespace {

template <class P>
__device__ __forceinline__ void store_param(P* param, int64_t i, float v, bool stochastic,
                                            uint64_t seed, uint64_t offset, uint64_t first) {
  const uint32_t bits =
      stochastic ? philox_bits(seed, offset, first + static_cast<uint64_t>(i)) : 0u;
  param[i] = kernels::round_param<P>(v, stochastic, bits);
}

template <class P, class G, bool kMomentum>
__global__ void sgd_kernel(P* param, const G* grad, float* momentum, kernels::SgdCoeffs c,
                           bool stochastic, uint64_t seed, uint64_t offset, uint64_t first,
                           int64_t n) {
  MP_GRID_STRIDE(i, n) {
    const float p = to_float(param[i]), g = to_float(grad[i]);
    float out;
    if constexpr (kMomentum) {
      float m = momentum[i];
      out = kernels::sgd_update_momentum(p, g, m, c);
      momentum[i] = m;
    } else {
      out = kernels::sgd_update_plain(p, g, c);
    }
    store_param(param, i, out, stochastic, seed, offset, first);
  }
}

template <class P, class G>
__global__ void adamw_kernel(P* param, const G* grad, float* m, float* v, kernels::AdamWCoeffs c,
                             bool stochastic, uint64_t seed, uint64_t offset, uint64_t first,
                           int64_t n) {
  MP_GRID_STRIDE(i, n) {
    float mi = m[i], vi = v[i];
    const float out = kernels::adamw_update(to_float(param[i]), to_float(grad[i]), mi, vi, c);
    m[i] = mi;
    v[i] = vi;
    store_param(param, i, out, stochastic, seed, offset, first);
  }
}

}  // namespace

void CudaBackend::sgd_step_impl(Tensor& param, const Tensor& grad, Tensor* momentum,
                                const SgdHyper& h, const Rounding& r) {
  const bool use_m = h.momentum != 0.0f;
  const int64_t n = param.numel();
  if (n == 0) return;
  const kernels::SgdCoeffs c{h.lr, h.momentum, h.weight_decay, h.nesterov};
  const bool stochastic = r.stochastic && param.dtype() == DType::BF16;
  float* mom = use_m ? ptr<float>(*momentum) : nullptr;
  dispatch_float(param.dtype(), "sgd_step", [&](auto ptag) {
    using P = decltype(ptag);
    dispatch_float(grad.dtype(), "sgd_step", [&](auto gtag) {
      using G = decltype(gtag);
      if (use_m)
        sgd_kernel<P, G, true><<<blocks_for(n), kThreads, 0, bound_stream()>>>(
            ptr<P>(param), ptr<const G>(grad), mom, c, stochastic, r.seed, r.offset, r.first, n);
      else
        sgd_kernel<P, G, false><<<blocks_for(n), kThreads, 0, bound_stream()>>>(
            ptr<P>(param), ptr<const G>(grad), nullptr, c, stochastic, r.seed, r.offset, r.first, n);
      MP_CUDA_LAUNCH_CHECK("sgd_kernel");
    });
  });
}

void CudaBackend::adamw_step_impl(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                                  const AdamWHyper& h, const Rounding& r) {
  const int64_t n = param.numel();
  if (n == 0) return;
  const kernels::AdamWCoeffs c =
      kernels::adamw_coeffs(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay, h.step);
  const bool stochastic = r.stochastic && param.dtype() == DType::BF16;
  dispatch_float(param.dtype(), "adamw_step", [&](auto ptag) {
    using P = decltype(ptag);
    dispatch_float(grad.dtype(), "adamw_step", [&](auto gtag) {
      using G = decltype(gtag);
      adamw_kernel<P, G><<<blocks_for(n), kThreads, 0, bound_stream()>>>(
          ptr<P>(param), ptr<const G>(grad),
                                                                  ptr<float>(m), ptr<float>(v), c,
                                                                  stochastic, r.seed, r.offset, r.first, n);
      MP_CUDA_LAUNCH_CHECK("adamw_kernel");
    });
  });
}

}  // namespace mp::cuda
