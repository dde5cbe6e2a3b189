// layernorm.h: LayerNorm over one row of n elements, fp32 statistics (two-pass mean, then the
// centred variance), storage types T for x/y/dy/dx and G for gamma/beta.
//   forward:  y = (x - mean) * rstd * gamma + beta,  rstd = 1 / sqrt(var + eps) (biased variance)
//   backward: xhat = (x - mean) * rstd,  g = dy * gamma,
//             dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),
//             dgamma += dy * xhat,  dbeta += dy   (fp32 accumulators supplied by the caller, so a
//             backend chooses how rows are combined: per-block partials, atomics, ...; null
//             accumulators are skipped: frozen or non-affine parameters).
// Device-safe; sums use the lane-split reductions of row_reduce.h.
#pragma once
#include <math.h>
#include <stdint.h>

#include "core/half.h"
#include "kernels/row_reduce.h"

namespace mp::kernels {

struct RowStats {
  float mean;
  float rstd;
};

template <class T> MP_HD RowStats layernorm_row_stats(const T* x, int64_t n, float eps) {
  const float inv_n = 1.0f / static_cast<float>(n);
  const float mean = row_sum(x, n) * inv_n;
  const float var = row_centered_sum_sq(x, n, mean) * inv_n;
  return {mean, 1.0f / sqrtf(var + eps)};
}

MP_HD float layernorm_apply(float x, RowStats s, float gamma, float beta) {
  return (x - s.mean) * s.rstd * gamma + beta;
}

template <class T, class G>
MP_HD RowStats layernorm_row_forward(const T* x, const G* gamma, const G* beta, int64_t n, float eps,
                                     T* y) {
  const RowStats s = layernorm_row_stats(x, n, eps);
  for (int64_t i = 0; i < n; ++i)
    y[i] = from_float<T>(layernorm_apply(to_float(x[i]), s, to_float(gamma[i]), to_float(beta[i])));
  return s;
}

// Row sums the backward needs: sum(dy * gamma) and sum(dy * gamma * xhat).
struct LayerNormBwdSums {
  float g;
  float gx;
};

template <class T, class G>
MP_HD LayerNormBwdSums layernorm_bwd_sums(const T* dy, const T* x, const G* gamma, RowStats s,
                                          int64_t n) {
  float a[kRowLanes] = {}, b[kRowLanes] = {};
  int64_t i = 0;
  for (; i + kRowLanes <= n; i += kRowLanes)
    for (int l = 0; l < kRowLanes; ++l) {
      const float g = to_float(dy[i + l]) * to_float(gamma[i + l]);
      a[l] += g;
      b[l] += g * ((to_float(x[i + l]) - s.mean) * s.rstd);
    }
  for (int l = 0; i < n; ++i, ++l) {
    const float g = to_float(dy[i]) * to_float(gamma[i]);
    a[l] += g;
    b[l] += g * ((to_float(x[i]) - s.mean) * s.rstd);
  }
  return {combine_lanes(a), combine_lanes(b)};
}

// dx for one element given the row's sums (divided by n by the caller: mean_g, mean_gx).
MP_HD float layernorm_dx(float dy, float x, float gamma, RowStats s, float mean_g, float mean_gx) {
  const float xhat = (x - s.mean) * s.rstd;
  return s.rstd * (dy * gamma - mean_g - xhat * mean_gx);
}

template <class T, class G>
MP_HD void layernorm_row_backward(const T* dy, const T* x, const G* gamma, RowStats s, int64_t n,
                                  T* dx, float* dgamma, float* dbeta) {
  const LayerNormBwdSums sums = layernorm_bwd_sums(dy, x, gamma, s, n);
  const float inv_n = 1.0f / static_cast<float>(n);
  const float mean_g = sums.g * inv_n, mean_gx = sums.gx * inv_n;
  for (int64_t i = 0; i < n; ++i) {
    const float d = to_float(dy[i]), xv = to_float(x[i]);
    if (dgamma) dgamma[i] += d * ((xv - s.mean) * s.rstd);
    if (dbeta) dbeta[i] += d;
    dx[i] = from_float<T>(layernorm_dx(d, xv, to_float(gamma[i]), s, mean_g, mean_gx));
  }
}

}  // namespace mp::kernels
