// unscale.h: element math of the gradient unscale + finiteness check and of the gradient-magnitude
// telemetry. Non-finite is tested on the exponent bits (all ones = inf or NaN), which is exact,
// branch-free and not affected by fast-math flags. Device-safe.
#pragma once
#include <math.h>

#include "core/half.h"

namespace mp::kernels {

MP_HD bool is_nonfinite(float x) { return (f32_bits(x) & 0x7f800000u) == 0x7f800000u; }

// x * inv_scale (inv_scale = 1/S, taken in fp64 by the caller and rounded to fp32).
MP_HD float unscale_element(float x, float inv_scale) { return x * inv_scale; }

// True when 0 < |x| * factor < threshold: a gradient that would underflow (e.g. flush to zero in
// fp16) at this scale.
MP_HD bool is_small_magnitude(float x, float factor, float threshold) {
  const float a = fabsf(x) * factor;
  return a > 0.0f && a < threshold;
}

}  // namespace mp::kernels
