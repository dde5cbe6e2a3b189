// activations.h: the math of every activation function, fp32 in and out. One struct per function,
// each with `fwd(x)` (the activation) and `bwd(x, dy)` (dy * f'(x), from the forward *input* x).
//   ActIdentity, ActRelu, ActGeluTanh (tanh approximation), ActGeluExact (erf), ActTanh,
//   ActSigmoid, ActSilu.
// Backends dispatch on their Act enum once per call and loop over Op::fwd / Op::bwd, so the loop
// body is branch-free and vectorisable. Device-safe: C math functions only, no std::, no throw.
#pragma once
#include <math.h>

#include "core/hd.h"

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
// one expf instead of tanhf (several times faster on CPU) and no cancellation in 1 + tanh(u).
struct ActGeluTanh {
  static constexpr float kC = 0.7978845608028654f;  // sqrt(2/pi)
  static constexpr float kA = 0.044715f;
  static MP_HD float fwd(float x) {
    const float u = kC * (x + kA * x * x * x);
    return x / (1.0f + expf(-2.0f * u));
  }
  // d/dx [x s] with s = sigmoid(2u): s + 2 x s (1 - s) du/dx.
  static MP_HD float bwd(float x, float dy) {
    // Beyond |x| = 10 the derivative is 1 or 0 to fp32 precision; the closed form would compute
    // 0 * inf there for huge x.
    if (fabsf(x) > 10.0f) return x > 0.0f ? dy : 0.0f;
    const float x2 = x * x;
    const float s = 1.0f / (1.0f + expf(-2.0f * kC * (x + kA * x2 * x)));
    const float du = kC * (1.0f + 3.0f * kA * x2);
    return dy * (s + 2.0f * x * s * (1.0f - s) * du);
  }
};

// x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)).
struct ActGeluExact {
  static constexpr float kInvSqrt2 = 0.7071067811865476f;
  static constexpr float kInvSqrt2Pi = 0.3989422804014327f;  // 1 / sqrt(2 pi)
  static MP_HD float fwd(float x) { return 0.5f * x * (1.0f + erff(x * kInvSqrt2)); }
  static MP_HD float bwd(float x, float dy) {
    if (fabsf(x) > 10.0f) return x > 0.0f ? dy : 0.0f;
    const float cdf = 0.5f * (1.0f + erff(x * kInvSqrt2));
    const float pdf = kInvSqrt2Pi * expf(-0.5f * x * x);
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
  static MP_HD float fwd(float x) { return 1.0f / (1.0f + expf(-x)); }
  static MP_HD float bwd(float x, float dy) {
    const float s = fwd(x);
    return dy * (s * (1.0f - s));
  }
};

// x * sigmoid(x) (a.k.a. swish).
struct ActSilu {
  static MP_HD float fwd(float x) { return x / (1.0f + expf(-x)); }
  static MP_HD float bwd(float x, float dy) {
    const float s = 1.0f / (1.0f + expf(-x));
    return dy * (s * (1.0f + x * (1.0f - s)));
  }
};

}  // namespace mp::kernels
