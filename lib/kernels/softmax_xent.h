// softmax_xent.h: fused softmax cross-entropy for one row of C logits, all math in fp32.
//   loss = logsumexp(x) - x[label] = log(sum exp(x - m)) + (m - x[label]) with m = max(x)
//   (stable for |x| ~ 1e4 and beyond, and accurate for confident rows),
//   dlogits = grad_scale * (softmax(x) - onehot(label)).
// A row whose label equals ignore_index has loss 0 and zero gradient. A label outside [0, C)
// (and not ignore_index) gives a NaN loss and a zero gradient: backends validate labels first
// and report the bad one to the user. Device-safe.
#pragma once
#include <math.h>
#include <stdint.h>

#include "core/half.h"
#include "kernels/exp.h"
#include "kernels/row_reduce.h"

namespace mp::kernels {

MP_HD bool xent_label_valid(int32_t label, int64_t C, int32_t ignore_index) {
  return label == ignore_index || (label >= 0 && label < C);
}

// sum_j exp(x_j - m)
template <class T> MP_HD float row_sum_exp(const T* x, int64_t n, float m) {
  float acc[kRowLanes] = {};
  int64_t i = 0;
  for (; i + kRowLanes <= n; i += kRowLanes)
    for (int l = 0; l < kRowLanes; ++l) acc[l] += exp_f32(to_float(x[i + l]) - m);
  for (int l = 0; i < n; ++i, ++l) acc[l] += exp_f32(to_float(x[i]) - m);
  return combine_lanes(acc);
}

// Returns the row's loss; writes the gradient row when d != nullptr.
template <class T, class TD>
MP_HD float softmax_xent_row(const T* x, int64_t C, int32_t label, int32_t ignore_index,
                             float grad_scale, TD* d) {
  const bool ignored = label == ignore_index;
  if (ignored || label < 0 || label >= C) {
    if (d)
      for (int64_t j = 0; j < C; ++j) d[j] = from_float<TD>(0.0f);
    return ignored ? 0.0f : NAN;
  }
  const float m = row_max(x, C);
  const float s = row_sum_exp(x, C, m);
  // log(s) + (m - x[label]): m - x[label] is exact when the two are close, so a confident row
  // keeps its small loss instead of losing it to (m + log s) - x[label] cancellation at |x| ~ 1e4.
  const float loss = logf(s) + (m - to_float(x[label]));
  if (d) {
    const float inv_s = 1.0f / s;
    for (int64_t j = 0; j < C; ++j) d[j] = from_float<TD>(grad_scale * (exp_f32(to_float(x[j]) - m) * inv_s));
    // the label's entry after the loop, so the loop body has no compare and vectorises
    d[label] = from_float<TD>(grad_scale * (exp_f32(to_float(x[label]) - m) * inv_s - 1.0f));
  }
  return loss;
}

}  // namespace mp::kernels
