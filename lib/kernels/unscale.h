// unscale.h: element math of the gradient unscale + finiteness check, of the gradient norm's sum of
// squares and of the gradient-magnitude telemetry. Non-finite is tested on the exponent bits (all
// ones = inf or NaN), which is exact, branch-free and not affected by fast-math flags. Device-safe.
#pragma once
#include <math.h>

#include "core/half.h"

namespace mp::kernels {

MP_HD bool is_nonfinite(float x) { return (f32_bits(x) & 0x7f800000u) == 0x7f800000u; }

// x * inv_scale (inv_scale = 1/S, taken in fp64 by the caller and rounded to fp32). The finiteness
// check is made on this product, not on x: with S < 1 (inv_scale > 1) a finite x can unscale to
// inf. (inv_scale > 0, so a non-finite x always gives a non-finite product.)
MP_HD float unscale_element(float x, float inv_scale) { return x * inv_scale; }

// x^2 in fp64: exact (24 + 24 significant bits fit in 53) and at most FLT_MAX^2 ~ 1.2e77, so a
// sum of squares of finite fp32 values accumulated in fp64 cannot overflow (it would take more
// than 1e231 terms), where an fp32 square overflows already for |x| > 1.8e19.
MP_HD double square_f64(float x) {
  const double d = x;
  return d * d;
}

// True when 0 < |x| * factor < threshold: a gradient that would underflow (e.g. flush to zero in
// fp16) at this scale.
MP_HD bool is_small_magnitude(float x, float factor, float threshold) {
  const float a = fabsf(x) * factor;
  return a > 0.0f && a < threshold;
}

}  // namespace mp::kernels
