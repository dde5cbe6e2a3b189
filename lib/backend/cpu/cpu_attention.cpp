// cpu_attention.cpp: CpuBackend's attention ops (kernels/attention.h). The head permutes copy
// contiguous runs of d elements (memcpy of raw bytes: exact in every dtype), one (b, t) row of the
// interleaved layout per task. The causal softmax rows run in parallel, staged through per-thread
// fp32 buffers, and read only each row's visible prefix. The fused attention ops (the reference
// of the CUDA flash kernels) run one [T, d] slice per task: its operands staged to fp32 once,
// then kernels::attention_row_forward / _backward row by row, fp32 gradients accumulated in the
// slice's own buffers (so the bits do not depend on the thread count), rounded once on store.
#include <omp.h>

#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_map.h"
#include "kernels/attention.h"

namespace mp::cpu {

namespace {

// For each run of d elements: interleaved [B, T, P, H, d] <-> per head [P][B * H, T, d].
// to_heads: interleaved -> per head (split), else per head -> interleaved (merge).
void permute_heads(int threads, const Tensor& inter, const Tensor& per_head, int64_t parts,
                   int64_t heads, bool to_heads) {
  const int64_t B = inter.shape()[0], T = inter.shape()[1], W = inter.shape()[2];
  const kernels::HeadDims s{B, T, parts, heads, W / (parts * heads)};
  const size_t es = dtype_size(inter.dtype());
  const size_t run = static_cast<size_t>(s.d) * es;
  char* ip = static_cast<char*>(inter.raw());
  char* hp = static_cast<char*>(per_head.raw());
  for_each_row(threads, B * T, W, [&](int64_t bt) {
    for (int64_t ph = 0; ph < parts * heads; ++ph) {
      const int64_t i = (bt * parts * heads + ph) * s.d;
      char* a = ip + static_cast<size_t>(i) * es;
      char* h = hp + static_cast<size_t>(kernels::head_offset(s, i)) * es;
      if (to_heads) std::memcpy(h, a, run);
      else std::memcpy(a, h, run);
    }
  });
}

}  // namespace

void CpuBackend::split_heads_impl(const Tensor& x, Tensor& out, int64_t parts, int64_t heads) {
  permute_heads(threads_, x, out, parts, heads, true);
}

void CpuBackend::merge_heads_impl(const Tensor& x, Tensor& out, int64_t parts, int64_t heads) {
  permute_heads(threads_, out, x, parts, heads, false);
}

namespace {

// f(row, visible keys, the calling thread's `per_row` fp32 scratch rows of T) for every row.
template <class F>
void for_each_causal_row(CpuBackend& be, int64_t rows, int64_t T, int per_row, F&& f) {
  size_t stride = 0;
  float* ts = be.thread_scratch(static_cast<size_t>(per_row * T), &stride);
  for_each_row(be.threads(), rows, T, [&](int64_t r) {
    f(r, kernels::causal_visible(r, T), ts + stride * static_cast<size_t>(omp_get_thread_num()));
  });
}

}  // namespace

void CpuBackend::causal_softmax_forward_impl(const Tensor& s, Tensor& p) {
  const int64_t T = s.cols();
  for_each_causal_row(*this, s.rows(), T, 2, [&](int64_t r, int64_t vis, float* mine) {
    const float* ss = f32_in(s, r * T, vis, mine);  // the masked tail is never read
    float* ps = f32_out(p, r * T, mine + T);
    kernels::causal_softmax_row(ss, T, vis, ps);
    f32_commit(p, r * T, T, ps);
  });
}

void CpuBackend::causal_softmax_backward_impl(const Tensor& p, const Tensor& dp, Tensor& ds) {
  const int64_t T = p.cols();
  for_each_causal_row(*this, p.rows(), T, 3, [&](int64_t r, int64_t vis, float* mine) {
    const float* ps = f32_in(p, r * T, vis, mine);
    const float* dps = f32_in(dp, r * T, vis, mine + T);
    float* dss = f32_out(ds, r * T, mine + 2 * T);
    kernels::causal_softmax_backward_row(ps, dps, T, vis, dss);
    f32_commit(ds, r * T, T, dss);
  });
}

namespace {

// f(slice n, the calling thread's `per_slice` fp32 scratch) for each [T, d] slice, in parallel.
template <class F>
void for_each_slice(CpuBackend& be, int64_t slices, int64_t T, int64_t d, size_t per_slice,
                    F&& f) {
  size_t stride = 0;
  float* ts = be.thread_scratch(per_slice, &stride);
  for_each_row(be.threads(), slices, T * T * d, [&](int64_t n) {
    f(n, ts + stride * static_cast<size_t>(omp_get_thread_num()));
  });
}

}  // namespace

void CpuBackend::attention_forward_impl(const Tensor& q, const Tensor& k, const Tensor& v,
                                        float scale, Tensor& out, Tensor& lse) {
  const int64_t N = q.shape()[0], T = q.shape()[1], d = q.shape()[2], td = T * d;
  float* lp = static_cast<float*>(lse.raw());
  // Scratch: q, k, v and out staged (fp32 operands are read in place), one row of scores.
  for_each_slice(*this, N, T, d, static_cast<size_t>(4 * td + T), [&](int64_t n, float* mine) {
    const float* qs = f32_in(q, n * td, td, mine);
    const float* ks = f32_in(k, n * td, td, mine + td);
    const float* vs = f32_in(v, n * td, td, mine + 2 * td);
    float* os = f32_out(out, n * td, mine + 3 * td);
    float* srow = mine + 4 * td;
    for (int64_t i = 0; i < T; ++i)
      lp[n * T + i] = kernels::attention_row_forward(qs + i * d, ks, vs, i + 1, d, scale, srow,
                                                     os + i * d);
    f32_commit(out, n * td, td, os);
  });
}

void CpuBackend::attention_backward_impl(const Tensor& q, const Tensor& k, const Tensor& v,
                                         const Tensor& out, const Tensor& dout, const Tensor& lse,
                                         float scale, Tensor& dq, Tensor& dk, Tensor& dv) {
  const int64_t N = q.shape()[0], T = q.shape()[1], d = q.shape()[2], td = T * d;
  const float* lp = static_cast<const float*>(lse.raw());
  // Scratch: the five operands staged, and dk, dv accumulated in fp32 (dq is written row by row
  // into its own staging, or in place when fp32).
  for_each_slice(*this, N, T, d, static_cast<size_t>(8 * td), [&](int64_t n, float* mine) {
    const int64_t off = n * td;
    const float* qs = f32_in(q, off, td, mine);
    const float* ks = f32_in(k, off, td, mine + td);
    const float* vs = f32_in(v, off, td, mine + 2 * td);
    const float* os = f32_in(out, off, td, mine + 3 * td);
    const float* dos = f32_in(dout, off, td, mine + 4 * td);
    float* dqs = f32_out(dq, off, mine + 5 * td);
    float* dks = mine + 6 * td;
    float* dvs = mine + 7 * td;
    for (int64_t i = 0; i < td; ++i) dks[i] = dvs[i] = 0.0f;
    for (int64_t i = 0; i < T; ++i) {
      const float delta = kernels::row_dot(dos + i * d, os + i * d, d);
      kernels::attention_row_backward(qs + i * d, ks, vs, dos + i * d, delta, lp[n * T + i], i + 1,
                                      d, scale, dqs + i * d, dks, dvs);
    }
    f32_commit(dq, off, td, dqs);
    store_floats(dks, dk.dtype(), td, elem_ptr(dk, off));
    store_floats(dvs, dv.dtype(), td, elem_ptr(dv, off));
  });
}

}  // namespace mp::cpu
