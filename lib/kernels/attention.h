// attention.h: the row math of causal self-attention's fused softmax (Backend::
// causal_softmax_forward / _backward) and the index map of its head permutes (split_heads /
// merge_heads). Scores arrive already scaled by 1/sqrt(d) (the alpha of the score GEMM). A row of
// T scores is the r-th row of its T x T block: keys j <= r are visible, keys j > r masked.
//   forward:  p_j = exp(s_j - m) / sum_{k<=r} exp(s_k - m), m = max_{k<=r} s_k   (j <= r), 0 else
//   backward: ds_j = p_j * (dp_j - sum_{k<=r} p_k dp_k)                           (j <= r), 0 else
// All math in fp32 over the visible prefix (masked elements are never read, so a masked score may
// be anything, inf included), one rounding on store; masked outputs are exactly 0. Device-safe
// (one thread per row here; a CUDA kernel may split the sums across a warp).
#pragma once
#include <stdint.h>

#include "core/half.h"
#include "kernels/exp.h"
#include "kernels/row_reduce.h"
#include "kernels/softmax_xent.h"

namespace mp::kernels {

// Visible keys of row `row` of a T x T score block (rows counted across blocks).
MP_HD int64_t causal_visible(int64_t row, int64_t T) { return row % T + 1; }

// p[0, n) from s[0, n) for a row with `visible` unmasked keys, into fp32 (a CPU engine stages
// low-precision outputs through fp32 and rounds on store). The exponentials are computed once,
// kept in p, and summed with row_sum's lanes: the same bits as row_sum_exp, at half the exps.
template <class T>
MP_HD void causal_softmax_row(const T* s, int64_t n, int64_t visible, float* p) {
  const float m = row_max(s, visible);
  for (int64_t j = 0; j < visible; ++j) p[j] = exp_f32(to_float(s[j]) - m);
  const float inv = 1.0f / row_sum(p, visible);
  for (int64_t j = 0; j < visible; ++j) p[j] *= inv;
  for (int64_t j = visible; j < n; ++j) p[j] = 0.0f;
}

// ds = p * (dp - <p, dp>) over the visible prefix, 0 beyond.
template <class T, class TO>
MP_HD void causal_softmax_backward_row(const T* p, const T* dp, int64_t n, int64_t visible,
                                       TO* ds) {
  const float c = row_dot(p, dp, visible);
  for (int64_t j = 0; j < visible; ++j)
    ds[j] = from_float<TO>(to_float(p[j]) * (to_float(dp[j]) - c));
  for (int64_t j = visible; j < n; ++j) ds[j] = from_float<TO>(0.0f);
}

// The head permute: element (b, t, p, h, e) of the interleaved layout [B, T, P, H, d] (a QKV
// projection's output with P = 3, an attention output with P = 1) and its place in the per-head
// layout [P][B * H, T, d]. Returns the per-head offset of the interleaved offset `i`.
struct HeadDims {
  int64_t B, T, P, H, d;
};
MP_HD int64_t head_offset(const HeadDims& s, int64_t i) {
  const int64_t e = i % s.d;
  int64_t r = i / s.d;
  const int64_t h = r % s.H;
  r /= s.H;
  const int64_t p = r % s.P;
  r /= s.P;
  const int64_t t = r % s.T;
  const int64_t b = r / s.T;
  return (((p * s.B + b) * s.H + h) * s.T + t) * s.d + e;
}

}  // namespace mp::kernels
