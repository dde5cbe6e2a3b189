// activations.h: the math of every activation function, fp32 in and out. One struct per function,
// each with `fwd(x)` (the activation) and `bwd(x, dy)` (dy * f'(x), from the forward *input* x).
//   ActIdentity, ActRelu, ActGeluTanh (tanh approximation), ActGeluExact (erf), ActTanh,
//   ActSigmoid, ActSilu.
// Backends dispatch on their Act enum once per call and loop over Op::fwd / Op::bwd, so the loop
// body is branch-free; exponentials use exp_f32 (kernels/exp.h), so sigmoid, SiLU and GELU-tanh
// loops vectorise on CPU. Device-safe: C math functions only, no std::, no throw.
#pragma once
#include <math.h>

#include "core/hd.h"
#include "kernels/exp.h"

namespace mp::kernels {

struct ActIdentity {
  static MP_HD float fwd(float x) { return x; }
  static MP_HD float bwd(float /*x*/, float dy) { return dy; }
};

struct ActRelu {
  static MP_HD float fwd(float x) { return x > 0.0f ? x : 0.0f; }
  static MP_HD float bwd(float x, float dy) { return x > 0.0f ? dy : 0.0f; }
};

// 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), as in GPT-2 and PyTorch
// approximate="tanh". Computed as x * sigmoid(2u), the same function (1 + tanh(u) = 2 sigmoid(2u)):
// one exponential instead of tanhf (much faster on CPU) and no cancellation in 1 + tanh(u).
struct ActGeluTanh {
  static constexpr float kC = 0.7978845608028654f;  // sqrt(2/pi)
  static constexpr float kA = 0.044715f;
  static MP_HD float fwd(float x) {
    const float u = kC * (x + kA * x * x * x);
    return x / (1.0f + exp_f32(-2.0f * u));
  }
  // d/dx [x s] with s = sigmoid(2u): s + 2 x s (1 - s) du/dx, du/dx = sqrt(2/pi) (1 + 3a x^2),
  // written as s + 2 sqrt(2/pi) (w x + 3a ((w x) x) x) with w = s (1 - s). w is exactly 0 beyond
  // |x| ~ 10.5, and multiplying by x one factor at a time keeps it 0 for any finite x (x^3 first
  // would give 0 * inf). Branch-free, so loops vectorise.
  static MP_HD float bwd(float x, float dy) {
    const float s = 1.0f / (1.0f + exp_f32(-2.0f * kC * (x + kA * x * x * x)));
    const float wx = (s * (1.0f - s)) * x;
    return dy * (s + 2.0f * kC * (wx + 3.0f * kA * ((wx * x) * x)));
  }
};

// x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)).
struct ActGeluExact {
  static constexpr float kInvSqrt2 = 0.7071067811865476f;
  static constexpr float kInvSqrt2Pi = 0.3989422804014327f;  // 1 / sqrt(2 pi)
  static MP_HD float fwd(float x) { return 0.5f * x * (1.0f + erff(x * kInvSqrt2)); }
  // Phi(x) + x phi(x); for huge |x|, phi underflows to exactly 0 (x^2 may be inf: exp(-inf) = 0).
  static MP_HD float bwd(float x, float dy) {
    const float cdf = 0.5f * (1.0f + erff(x * kInvSqrt2));
    const float pdf = kInvSqrt2Pi * exp_f32(-0.5f * x * x);
    return dy * (cdf + x * pdf);
  }
};

struct ActTanh {
  static MP_HD float fwd(float x) { return tanhf(x); }
  static MP_HD float bwd(float x, float dy) {
    const float t = tanhf(x);
    return dy * (1.0f - t * t);
  }
};

struct ActSigmoid {
  static MP_HD float fwd(float x) { return 1.0f / (1.0f + exp_f32(-x)); }
  static MP_HD float bwd(float x, float dy) {
    const float s = fwd(x);
    return dy * (s * (1.0f - s));
  }
};

// x * sigmoid(x) (a.k.a. swish).
struct ActSilu {
  static MP_HD float fwd(float x) { return x / (1.0f + exp_f32(-x)); }
  static MP_HD float bwd(float x, float dy) {
    const float s = 1.0f / (1.0f + exp_f32(-x));
    return dy * (s * (1.0f + x * (1.0f - s)));
  }
};

}  // namespace mp::kernels
