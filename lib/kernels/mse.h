// mse.h: squared-error loss for one row, fp32 math.
//   loss = sum_j (pred_j - target_j)^2,  dpred_j = grad_scale * 2 * (pred_j - target_j).
// Device-safe.
#pragma once
#include <stdint.h>

#include "core/half.h"
#include "kernels/row_reduce.h"

namespace mp::kernels {

template <class P, class Q, class TD>
MP_HD float mse_row(const P* pred, const Q* target, int64_t n, float grad_scale, TD* d) {
  float acc[kRowLanes] = {};
  int64_t i = 0;
  for (; i + kRowLanes <= n; i += kRowLanes)
    for (int l = 0; l < kRowLanes; ++l) {
      const float e = to_float(pred[i + l]) - to_float(target[i + l]);
      acc[l] += e * e;
    }
  for (int l = 0; i < n; ++i, ++l) {
    const float e = to_float(pred[i]) - to_float(target[i]);
    acc[l] += e * e;
  }
  if (d) {
    const float k = 2.0f * grad_scale;
    for (int64_t j = 0; j < n; ++j) d[j] = from_float<TD>(k * (to_float(pred[j]) - to_float(target[j])));
  }
  return combine_lanes(acc);
}

}  // namespace mp::kernels
