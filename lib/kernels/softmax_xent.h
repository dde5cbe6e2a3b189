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

// The running (max m, sum s of exp(x - m)) of a one-pass (online) logsumexp, for a GPU block that
// reads a long row once: each thread pushes its elements, then the pairs are merged in a fixed
// tree. Equal to row_max and row_sum_exp within a few ulps (exp(x - m1) * exp(m1 - m) instead of
// exp(x - m)) when the row's max is finite; a caller recomputes the sum with row_sum_exp's
// formula when it is not (an infinite logit: the CPU's NaN). Start from {-INFINITY, 0}.
struct MaxSumExp {
  float m;
  float s;
};

// s, a sum of exp(x - m), as a sum of exp(x - to) for to >= m (exact when m == to, also -inf).
MP_HD float lse_rescale(float s, float m, float to) { return m == to ? s : s * exp_f32(m - to); }

// A NaN element makes the sum NaN (as in row_sum_exp); a -inf one adds exp(-inf) = 0, so it is
// skipped (it would give exp(-inf - -inf) = NaN before the first finite element).
MP_HD MaxSumExp lse_push(MaxSumExp a, float x) {
  if (x > a.m) return {x, lse_rescale(a.s, a.m, x) + 1.0f};
  if (x == -INFINITY) return a;
  return {a.m, a.s + exp_f32(x - a.m)};
}

// Symmetric bit for bit (max, then a commutative sum), so a butterfly leaves every lane the same.
MP_HD MaxSumExp lse_merge(MaxSumExp a, MaxSumExp b) {
  const float m = b.m > a.m ? b.m : a.m;
  return {m, lse_rescale(a.s, a.m, m) + lse_rescale(b.s, b.m, m)};
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
