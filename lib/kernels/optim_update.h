// optim_update.h: per-element optimizer updates on fp32 state, and the rounded parameter write.
//   SGD   (PyTorch semantics, dampening 0): g += wd * p; b = momentum * b + g;
//         g = nesterov ? g + momentum * b : b; p -= lr * g.   (momentum 0: no buffer is used)
//   AdamW (PyTorch semantics, decoupled decay): p *= 1 - lr * wd; m = b1 m + (1 - b1) g;
//         v = b2 v + (1 - b2) g^2; p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),
//         bc1 = 1 - b1^step, bc2 = 1 - b2^step (computed in fp64 once per step).
// The update returns the new fp32 parameter value; round_param<T> stores it to the parameter's
// dtype with round-to-nearest-even, or for bf16 optionally with stochastic rounding from 16
// random bits (philox_bits(seed, offset, i)), which keeps pure-bf16 training unbiased.
// Device-safe.
#pragma once
#include <math.h>
#include <stdint.h>

#include "core/half.h"

namespace mp::kernels {

struct SgdCoeffs {
  float lr, momentum, weight_decay;
  bool nesterov;
};

// With a momentum buffer element `m` (momentum != 0).
MP_HD float sgd_update_momentum(float p, float g, float& m, const SgdCoeffs& c) {
  g += c.weight_decay * p;
  const float b = c.momentum * m + g;
  m = b;
  const float d = c.nesterov ? g + c.momentum * b : b;
  return p - c.lr * d;
}

// Plain SGD (momentum == 0: no buffer).
MP_HD float sgd_update_plain(float p, float g, const SgdCoeffs& c) {
  return p - c.lr * (g + c.weight_decay * p);
}

// Either of the above; `m` is ignored, and left untouched, when momentum == 0.
MP_HD float sgd_update(float p, float g, float& m, const SgdCoeffs& c) {
  return c.momentum != 0.0f ? sgd_update_momentum(p, g, m, c) : sgd_update_plain(p, g, c);
}

struct AdamWCoeffs {
  float beta1, beta2, eps;
  float decay;         // 1 - lr * weight_decay
  float step_size;     // lr / bc1
  float inv_sqrt_bc2;  // 1 / sqrt(bc2)
};

// Bias corrections for 1-based `step`, in fp64.
MP_HD AdamWCoeffs adamw_coeffs(float lr, float beta1, float beta2, float eps, float weight_decay,
                               int64_t step) {
  const double bc1 = 1.0 - pow(static_cast<double>(beta1), static_cast<double>(step));
  const double bc2 = 1.0 - pow(static_cast<double>(beta2), static_cast<double>(step));
  AdamWCoeffs c;
  c.beta1 = beta1;
  c.beta2 = beta2;
  c.eps = eps;
  c.decay = static_cast<float>(1.0 - static_cast<double>(lr) * weight_decay);
  c.step_size = static_cast<float>(lr / bc1);
  c.inv_sqrt_bc2 = static_cast<float>(1.0 / sqrt(bc2));
  return c;
}

MP_HD float adamw_update(float p, float g, float& m, float& v, const AdamWCoeffs& c) {
  p *= c.decay;
  m = c.beta1 * m + (1.0f - c.beta1) * g;
  v = c.beta2 * v + (1.0f - c.beta2) * (g * g);
  const float denom = sqrtf(v) * c.inv_sqrt_bc2 + c.eps;
  return p - c.step_size * (m / denom);
}

// Store an updated parameter value in storage type T.
template <class T> struct ParamRounding {
  static MP_HD T apply(float v, bool /*stochastic*/, uint32_t /*rand_bits*/) { return from_float<T>(v); }
};
template <> struct ParamRounding<bfloat16> {
  static MP_HD bfloat16 apply(float v, bool stochastic, uint32_t rand_bits) {
    return bfloat16::from_bits(stochastic ? float_to_bf16_bits_stochastic(v, rand_bits & 0xffffu)
                                          : float_to_bf16_bits(v));
  }
};
template <class T> MP_HD T round_param(float v, bool stochastic, uint32_t rand_bits) {
  return ParamRounding<T>::apply(v, stochastic, rand_bits);
}

}  // namespace mp::kernels
