// attention.h: the row math of causal self-attention's fused softmax (Backend::
// causal_softmax_forward / _backward), of its fused (flash-style) attention ops (Backend::
// attention_forward / _backward, at the end of this file) and the index map of its head permutes (split_heads /
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


// ---- fused causal attention (Backend::attention_forward / _backward) ---------------------------
// Per slice n of [N, T, d] and query row i, over the visible keys j <= i, all in fp32:
//   s_j = scale <q_i, k_j>,  m = max_j s_j,  l = sum_j exp(s_j - m),  lse_i = m + log l
//   o_i = sum_j exp(s_j - m) v_j / l                                      (one rounding on store)
// Backward recomputes p_j = exp(s_j - lse_i) from the kept fp32 lse and, with
// delta_i = <do_i, o_i> (o as stored: the same value on every engine, and the row's <p, dp>),
//   dp_j = <do_i, v_j>,  ds_j = p_j (dp_j - delta_i),
//   dq_i = scale sum_j ds_j k_j,  dk_j += scale ds_j q_i,  dv_j += p_j do_i.
// This is the unfused path's math (scores, causal_softmax_row, P V) without rounding S and P to
// the compute dtype in between, so the two agree within one rounding of the dtype.

// The statistic backward needs: log sum_j exp(s_j) of a row, from its max and its shifted sum.
MP_HD float attention_lse(float m, float l) { return m + logf(l); }

// A key's probability, recomputed from its score and the row's lse.
MP_HD float attention_prob(float s, float lse) { return exp_f32(s - lse); }

// The running max and sum of one row's softmax over key tiles (flash attention's online softmax).
struct OnlineSoftmax {
  float m = -INFINITY, l = 0.0f;
  // Takes a tile whose largest score is tile_max; returns the factor by which everything summed
  // so far (l, and the caller's output accumulator) is rescaled to the new max. The tile's
  // weights are then exp(s - m), and their sum is added to l by the caller.
  MP_HD float absorb_max(float tile_max) {
    const float mn = tile_max > m ? tile_max : m;
    const float c = m == -INFINITY ? 0.0f : exp_f32(m - mn);  // nothing summed yet: no rescale
    m = mn;
    l *= c;
    return c;
  }
};

// Forward of query row q over its `vis` visible key/value rows (k, v: rows of d fp32 values),
// fp32 throughout: o[0, d) = softmax(scale q K^T) V, and returns the row's lse. s: vis floats of
// scratch. The CPU engine's reference; the CUDA kernels tile the same sums.
MP_HD float attention_row_forward(const float* q, const float* k, const float* v, int64_t vis,
                                  int64_t d, float scale, float* s, float* o) {
  for (int64_t j = 0; j < vis; ++j) s[j] = scale * row_dot(q, k + j * d, d);
  const float m = row_max(s, vis);
  for (int64_t j = 0; j < vis; ++j) s[j] = exp_f32(s[j] - m);
  const float l = row_sum(s, vis);
  for (int64_t e = 0; e < d; ++e) o[e] = 0.0f;
  for (int64_t j = 0; j < vis; ++j)
    for (int64_t e = 0; e < d; ++e) o[e] += s[j] * v[j * d + e];
  const float inv = 1.0f / l;
  for (int64_t e = 0; e < d; ++e) o[e] *= inv;
  return attention_lse(m, l);
}

// Backward of query row i (q, dout: its rows; delta = <dout, out_i>): dq[0, d) = the row's query
// gradient, and dk, dv (rows j < vis) accumulate its contributions. fp32 throughout.
MP_HD void attention_row_backward(const float* q, const float* k, const float* v,
                                  const float* dout, float delta, float lse, int64_t vis,
                                  int64_t d, float scale, float* dq, float* dk, float* dv) {
  for (int64_t e = 0; e < d; ++e) dq[e] = 0.0f;
  for (int64_t j = 0; j < vis; ++j) {
    const float p = attention_prob(scale * row_dot(q, k + j * d, d), lse);
    const float ds = scale * (p * (row_dot(dout, v + j * d, d) - delta));
    const float* kj = k + j * d;
    float* dkj = dk + j * d;
    float* dvj = dv + j * d;
    for (int64_t e = 0; e < d; ++e) {
      dvj[e] += p * dout[e];
      dkj[e] += ds * q[e];
      dq[e] += ds * kj[e];
    }
  }
}

// Head dims the CUDA engine's flash kernels are instantiated for (cuda_flash_attention.cu, whose
// fused_attention_supports answers this): the --dry-run memory estimate asks it with no GPU.
constexpr bool cuda_flash_head_dim(int64_t d) { return d == 32 || d == 64 || d == 128; }

}  // namespace mp::kernels
