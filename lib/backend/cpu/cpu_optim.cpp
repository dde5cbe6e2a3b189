// cpu_optim.cpp: CpuBackend::sgd_step and adamw_step: tile loops over kernels/optim_update.h on
// fp32 state, writing the parameter back with round-to-nearest-even, or for bf16 parameters with
// stochastic rounding from Philox(seed, offset, Rounding::first + element index) when
// Rounding::stochastic is set.
// The *_fused forms do the optimizer step's whole per-parameter work in one pass over each tile:
// gradient unscale and clip (GradPrep), the update, the master -> working cast and zeroing the
// gradient, with the same arithmetic as the separate ops.
#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_map.h"
#include "kernels/optim_update.h"
#include "kernels/unscale.h"

namespace mp::cpu {

namespace {

// Store the updated fp32 values `v` of elements [b, b + n) into param.
void store_param(const Tensor& param, int64_t b, int64_t n, const float* v, const Rounding& r) {
  if (param.dtype() == DType::BF16 && r.stochastic) {
    alignas(64) uint32_t bits[kTile];
    philox_tile(r.seed, r.offset, static_cast<int64_t>(r.first) + b, n, bits);
    bfloat16* p = param.data<bfloat16>() + b;
    for (int64_t i = 0; i < n; ++i) p[i] = kernels::round_param<bfloat16>(v[i], true, bits[i]);
    return;
  }
  f32_commit(param, b, n, v);
}

// The update loop of one tile, u(i, g) for every element, with the gradient element g read as
// GradPrep says: grad * inv_scale, then times clip_coef (each product rounded to fp32, the values
// unscale_and_check and scale would store), computed in registers. An fp32 gradient is read in
// place and, when asked, zeroed in the same loop; another dtype is staged through `buf` (and
// zeroed by finish_tile).
template <bool kUnscale, bool kClip, bool kZero, class U>
void prepared_loop(int64_t n, float* g, float inv, float coef, U& u) {
  for (int64_t i = 0; i < n; ++i) {
    float x = g[i];
    if constexpr (kUnscale) x = kernels::unscale_element(x, inv);
    if constexpr (kClip) x = x * coef;
    if constexpr (kZero) g[i] = 0.0f;
    u(i, x);
  }
}

// SGD adds the prepared gradient to weight_decay * p: computed in registers, the compiler could fuse
// (x * coef) + wd * p into one FMA and round differently from the separate ops, so SGD stages the
// prepared values through memory (one loop), as unscale_and_check and scale would leave them.
// (AdamW only multiplies g, so its loop computes g in registers: update_tile.)
const float* staged_grad(const Tensor& grad, int64_t b, int64_t n, float* buf, const GradPrep& p) {
  const float* g = f32_in(grad, b, n, buf);
  if (p.inv_scale == 1.0f && !p.clip) return g;  // x * 1 == x: nothing to do
  const float inv = p.inv_scale, coef = p.clip_coef;
  if (p.clip)
    for (int64_t i = 0; i < n; ++i) buf[i] = kernels::unscale_element(g[i], inv) * coef;
  else
    for (int64_t i = 0; i < n; ++i) buf[i] = kernels::unscale_element(g[i], inv);
  return buf;
}

template <class U>
void update_tile(const Tensor& grad, int64_t b, int64_t n, float* buf, const GradPrep& p, U&& u) {
  float* g = grad.dtype() == DType::F32 ? static_cast<float*>(grad.raw()) + b : buf;
  if (g == buf) load_floats(elem_ptr(grad, b), grad.dtype(), n, buf);
  const bool un = p.inv_scale != 1.0f, zero = p.zero_grad && g != buf;
  const float inv = p.inv_scale, coef = p.clip_coef;
  const int mode = (un ? 4 : 0) | (p.clip ? 2 : 0) | (zero ? 1 : 0);
  switch (mode) {
    case 0: prepared_loop<false, false, false>(n, g, inv, coef, u); break;
    case 1: prepared_loop<false, false, true>(n, g, inv, coef, u); break;
    case 2: prepared_loop<false, true, false>(n, g, inv, coef, u); break;
    case 3: prepared_loop<false, true, true>(n, g, inv, coef, u); break;
    case 4: prepared_loop<true, false, false>(n, g, inv, coef, u); break;
    case 5: prepared_loop<true, false, true>(n, g, inv, coef, u); break;
    case 6: prepared_loop<true, true, false>(n, g, inv, coef, u); break;
    default: prepared_loop<true, true, true>(n, g, inv, coef, u); break;
  }
}

// After the update of elements [b, b + n): working = RNE(param) (the value param now holds), and
// the gradient zeroed when asked and not done by the update loop. `buf` is kTile floats of scratch.
void finish_tile(const Tensor& param, const Tensor& grad, bool zero_grad, const Tensor* working,
                 int64_t b, int64_t n, float* buf) {
  if (working) store_floats(f32_in(param, b, n, buf), working->dtype(), n, elem_ptr(*working, b));
  if (zero_grad)
    std::memset(elem_ptr(grad, b), 0, static_cast<size_t>(n) * dtype_size(grad.dtype()));
}

}  // namespace

void CpuBackend::sgd_step_impl(Tensor& param, const Tensor& grad, Tensor* momentum,
                               const SgdHyper& h, const Rounding& r) {
  const bool use_m = h.momentum != 0.0f;
  const kernels::SgdCoeffs c{h.lr, h.momentum, h.weight_decay, h.nesterov};
  float* mom = use_m ? momentum->data<float>() : nullptr;
  for_each_tile(threads_, param.numel(), [&](int64_t, int64_t b, int64_t n) {
    alignas(64) float bp[kTile], bg[kTile], bo[kTile];
    const float* ps = f32_in(param, b, n, bp);
    const float* gs = f32_in(grad, b, n, bg);
    float* out = f32_out(param, b, bo);
    const kernels::SgdCoeffs cl = c;  // a local copy: stores to out/m cannot alias it
    if (use_m) {
      float* m = mom + b;
      for (int64_t i = 0; i < n; ++i) out[i] = kernels::sgd_update_momentum(ps[i], gs[i], m[i], cl);
    } else {
      for (int64_t i = 0; i < n; ++i) out[i] = kernels::sgd_update_plain(ps[i], gs[i], cl);
    }
    store_param(param, b, n, out, r);
  });
}

void CpuBackend::adamw_step_impl(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                                 const AdamWHyper& h, const Rounding& r) {
  const kernels::AdamWCoeffs c =
      kernels::adamw_coeffs(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay, h.step);
  float* ms = m.data<float>();
  float* vs = v.data<float>();
  for_each_tile(threads_, param.numel(), [&](int64_t, int64_t b, int64_t n) {
    alignas(64) float bp[kTile], bg[kTile], bo[kTile];
    const float* ps = f32_in(param, b, n, bp);
    const float* gs = f32_in(grad, b, n, bg);
    float* out = f32_out(param, b, bo);
    float* mm = ms + b;
    float* vv = vs + b;
    const kernels::AdamWCoeffs cl = c;  // a local copy: stores to out/m/v cannot alias it
    for (int64_t i = 0; i < n; ++i) out[i] = kernels::adamw_update(ps[i], gs[i], mm[i], vv[i], cl);
    store_param(param, b, n, out, r);
  });
}

}  // namespace mp::cpu

namespace mp::cpu {

void CpuBackend::sgd_step_fused_impl(Tensor& param, Tensor& grad, Tensor* momentum,
                                     const SgdHyper& h, const Rounding& r, const GradPrep& prep,
                                     Tensor* working) {
  const bool use_m = h.momentum != 0.0f;
  const kernels::SgdCoeffs c{h.lr, h.momentum, h.weight_decay, h.nesterov};
  float* mom = use_m ? momentum->data<float>() : nullptr;
  for_each_tile(threads_, param.numel(), [&](int64_t, int64_t b, int64_t n) {
    alignas(64) float bp[kTile], bg[kTile], bo[kTile];
    const float* ps = f32_in(param, b, n, bp);
    float* out = f32_out(param, b, bo);
    const float* gs = staged_grad(grad, b, n, bg, prep);
    const kernels::SgdCoeffs cl = c;  // a local copy: stores to out/m cannot alias it
    if (use_m) {
      float* m = mom + b;
      for (int64_t i = 0; i < n; ++i) out[i] = kernels::sgd_update_momentum(ps[i], gs[i], m[i], cl);
    } else {
      for (int64_t i = 0; i < n; ++i) out[i] = kernels::sgd_update_plain(ps[i], gs[i], cl);
    }
    store_param(param, b, n, out, r);
    finish_tile(param, grad, prep.zero_grad, working, b, n, bp);
  });
}

void CpuBackend::adamw_step_fused_impl(Tensor& param, Tensor& grad, Tensor& m, Tensor& v,
                                       const AdamWHyper& h, const Rounding& r, const GradPrep& prep,
                                       Tensor* working) {
  const kernels::AdamWCoeffs c =
      kernels::adamw_coeffs(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay, h.step);
  float* ms = m.data<float>();
  float* vs = v.data<float>();
  for_each_tile(threads_, param.numel(), [&](int64_t, int64_t b, int64_t n) {
    alignas(64) float bp[kTile], bg[kTile], bo[kTile];
    const float* ps = f32_in(param, b, n, bp);
    float* out = f32_out(param, b, bo);
    float* mm = ms + b;
    float* vv = vs + b;
    const kernels::AdamWCoeffs cl = c;  // a local copy: stores to out/m/v cannot alias it
    update_tile(grad, b, n, bg, prep, [&](int64_t i, float g) {
      out[i] = kernels::adamw_update(ps[i], g, mm[i], vv[i], cl);
    });
    store_param(param, b, n, out, r);
    finish_tile(param, grad, prep.zero_grad && grad.dtype() != DType::F32, working, b, n, bp);
  });
}

}  // namespace mp::cpu
