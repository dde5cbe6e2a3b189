// exp.h: exp_f32(x), e^x in fp32 within 2 ulp of the exact value (1 ulp typical) over the whole
// range: overflow to +inf above ln(FLT_MAX), gradual underflow through the subnormals to 0, NaN
// propagated. Branch-free arithmetic only (explicit fmaf, bit tricks, no library call and no
// float->int conversion), so a CPU compiler vectorises loops that call it (glibc's expf is a
// scalar call) and CPU and GPU compute the same bits. Used by the activations and softmax rows.
// Method: e^x = 2^k e^r with k = round(x / ln 2), r = x - k ln 2 (Cody-Waite, two constants),
// e^r from the cephes expf minimax polynomial on |r| <= ln2/2, and 2^k applied as two exact
// power-of-two factors so that subnormal results are rounded once. Device-safe.
#pragma once
#include <math.h>
#include <stdint.h>

#include "core/half.h"

namespace mp::kernels {

MP_HD float exp_f32(float x) {
  // Clamp: e^89 overflows to inf, e^-104 rounds to 0. NaN fails both tests and passes through.
  const float xc = x < -104.0f ? -104.0f : (x > 89.0f ? 89.0f : x);
  // k = round-to-nearest(x / ln 2) with the 1.5 * 2^23 trick: t's low mantissa bits hold k.
  const float t = fmaf(xc, 1.44269504088896341f, 12582912.0f);
  const float k = t - 12582912.0f;
  const int32_t ki = static_cast<int32_t>(f32_bits(t)) - 0x4B400000;
  float r = fmaf(k, -0.693359375f, xc);  // ln 2 = 0.693359375 - 2.12194440e-4 (cephes)
  r = fmaf(k, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = fmaf(p, r, 1.3981999507e-3f);
  p = fmaf(p, r, 8.3334519073e-3f);
  p = fmaf(p, r, 4.1665795894e-2f);
  p = fmaf(p, r, 1.6666665459e-1f);
  p = fmaf(p, r, 5.0000001201e-1f);
  p = fmaf(p, r * r, r) + 1.0f;
  // 2^k = 2^k1 * 2^k2 with k1, k2 in [-75, 64]: both factors are normal floats.
  const int32_t k1 = ki / 2, k2 = ki - k1;
  const float s1 = f32_from_bits(static_cast<uint32_t>(k1 + 127) << 23);
  const float s2 = f32_from_bits(static_cast<uint32_t>(k2 + 127) << 23);
  return (p * s1) * s2;
}

}  // namespace mp::kernels
