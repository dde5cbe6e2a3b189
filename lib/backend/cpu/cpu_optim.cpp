// cpu_optim.cpp: CpuBackend::sgd_step and adamw_step: tile loops over kernels/optim_update.h on
// fp32 state, writing the parameter back with round-to-nearest-even, or for bf16 parameters with
// stochastic rounding from Philox(seed, offset, element index) when Rounding::stochastic is set.
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_checks.h"
#include "backend/cpu/cpu_map.h"
#include "kernels/optim_update.h"

namespace mp::cpu {

namespace {

// Store the updated fp32 values `v` of elements [b, b + n) into param.
void store_param(const Tensor& param, int64_t b, int64_t n, const float* v, const Rounding& r) {
  if (param.dtype() == DType::BF16 && r.stochastic) {
    alignas(64) uint32_t bits[kTile];
    philox_tile(r.seed, r.offset, b, n, bits);
    bfloat16* p = param.data<bfloat16>() + b;
    for (int64_t i = 0; i < n; ++i) p[i] = kernels::round_param<bfloat16>(v[i], true, bits[i]);
    return;
  }
  f32_commit(param, b, n, v);
}

void check_state(const Tensor& s, const Tensor& param, const char* op, const char* arg) {
  check_dtype(s, DType::F32, op, arg);
  check_numel(s, param.numel(), op, arg);
}

}  // namespace

void CpuBackend::sgd_step(Tensor& param, const Tensor& grad, Tensor* momentum, const SgdHyper& h,
                          const Rounding& r) {
  check_float(param, "sgd_step", "param");
  check_float(grad, "sgd_step", "grad");
  check_numel(grad, param.numel(), "sgd_step", "grad");
  const bool use_m = h.momentum != 0.0f;
  MP_CHECK(!use_m || momentum, "sgd_step: momentum " + std::to_string(h.momentum) +
                                   " needs a momentum buffer, got none");
  if (use_m) check_state(*momentum, param, "sgd_step", "momentum");
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

void CpuBackend::adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                            const AdamWHyper& h, const Rounding& r) {
  check_float(param, "adamw_step", "param");
  check_float(grad, "adamw_step", "grad");
  check_numel(grad, param.numel(), "adamw_step", "grad");
  check_state(m, param, "adamw_step", "m");
  check_state(v, param, "adamw_step", "v");
  MP_CHECK(h.step >= 1, "adamw_step: step must be >= 1 (1-based), got " + std::to_string(h.step));
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
