// cpu_attention.cpp: CpuBackend's attention ops (kernels/attention.h). The head permutes copy
// contiguous runs of d elements (memcpy of raw bytes: exact in every dtype), one (b, t) row of the
// interleaved layout per task. The causal softmax rows run in parallel, staged through per-thread
// fp32 buffers, and read only each row's visible prefix.
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

}  // namespace mp::cpu
