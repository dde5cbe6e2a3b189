// group_norm.h: GroupNorm over one (sample, group) row: cg channels of hw elements each, stored
// contiguously (NCHW), fp32 statistics (layernorm_row_stats: two-pass mean and centred variance),
// a per-channel affine gamma[c], beta[c]. The normalisation is LayerNorm's over the row, so the
// backward reuses layernorm_dx with the channel's gamma:
//   y = (x - mean) rstd gamma[c] + beta[c];  g = dy gamma[c];
//   dx = rstd (g - mean(g) - xhat mean(g xhat));  dgamma[c] += sum dy xhat;  dbeta[c] += sum dy
// The per-channel sums of one row go to caller-supplied fp32 slots, so a backend combines rows in
// a fixed order. Device-safe; C++17.
#pragma once
#include <stdint.h>

#include "core/half.h"
#include "kernels/layernorm.h"

namespace mp::kernels {

template <class T, class G>
MP_HD RowStats group_norm_row_forward(const T* x, const G* gamma, const G* beta, int64_t cg,
                                      int64_t hw, float eps, T* y) {
  const RowStats s = layernorm_row_stats(x, cg * hw, eps);
  for (int64_t c = 0; c < cg; ++c) {
    const float ga = to_float(gamma[c]), be = to_float(beta[c]);
    for (int64_t i = c * hw; i < (c + 1) * hw; ++i)
      y[i] = from_float<T>(layernorm_apply(to_float(x[i]), s, ga, be));
  }
  return s;
}

// dx of the row; dgamma[c], dbeta[c] (c < cg) are overwritten with this row's channel sums.
template <class T, class G>
MP_HD void group_norm_row_backward(const T* dy, const T* x, const G* gamma, RowStats s, int64_t cg,
                                   int64_t hw, T* dx, float* dgamma, float* dbeta) {
  float sg = 0.0f, sgx = 0.0f;
  for (int64_t c = 0; c < cg; ++c) {
    float a = 0.0f, b = 0.0f;  // sum dy, sum dy xhat over the channel
    for (int64_t i = c * hw; i < (c + 1) * hw; ++i) {
      const float d = to_float(dy[i]);
      a += d;
      b += d * ((to_float(x[i]) - s.mean) * s.rstd);
    }
    dbeta[c] = a;
    dgamma[c] = b;
    const float ga = to_float(gamma[c]);
    sg += a * ga;
    sgx += b * ga;
  }
  const float inv_n = 1.0f / static_cast<float>(cg * hw);
  const float mean_g = sg * inv_n, mean_gx = sgx * inv_n;
  for (int64_t c = 0; c < cg; ++c) {
    const float ga = to_float(gamma[c]);
    for (int64_t i = c * hw; i < (c + 1) * hw; ++i)
      dx[i] = from_float<T>(layernorm_dx(to_float(dy[i]), to_float(x[i]), ga, s, mean_g, mean_gx));
  }
}

}  // namespace mp::kernels
