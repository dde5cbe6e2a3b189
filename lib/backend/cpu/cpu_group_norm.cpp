// cpu_group_norm.cpp: CpuBackend's GroupNorm hooks. (sample, group) rows run in parallel through
// per-thread fp32 buffers and kernels/group_norm.h. The backward writes each row's per-channel
// dgamma/dbeta sums into an [n][c] scratch and then adds them to the fp32 gradients sample by
// sample in a fixed order (fp64 per channel), so the result does not depend on the thread count.
#include <omp.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_map.h"
#include "kernels/group_norm.h"

namespace mp::cpu {

namespace {

struct Geometry {
  int64_t n, c, groups, cg, hw, row;  // row = cg * hw elements per (sample, group)
};

Geometry geometry(const Tensor& x, int64_t groups) {
  const int64_t n = x.dim(0), c = x.dim(1);
  const int64_t hw = x.numel() / (n * c);
  return {n, c, groups, c / groups, hw, (c / groups) * hw};
}

}  // namespace

void CpuBackend::group_norm_forward_impl(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                         int64_t groups, float eps, Tensor& y, Tensor& mean,
                                         Tensor& rstd) {
  const Geometry g = geometry(x, groups);
  float* gb = op_scratch_.get_as<float>(static_cast<size_t>(2 * g.c));
  load_floats(gamma.raw(), gamma.dtype(), g.c, gb);
  load_floats(beta.raw(), beta.dtype(), g.c, gb + g.c);
  size_t stride = 0;
  float* ts = thread_scratch(static_cast<size_t>(2 * g.row), &stride);
  float* m = mean.data<float>();
  float* rs = rstd.data<float>();
  for_each_row(threads_, g.n * groups, g.row, [&](int64_t r) {
    float* mine = ts + stride * static_cast<size_t>(omp_get_thread_num());
    const int64_t c0 = (r % groups) * g.cg;
    const float* xs = f32_in(x, r * g.row, g.row, mine);
    float* ys = f32_out(y, r * g.row, mine + g.row);
    const kernels::RowStats s =
        kernels::group_norm_row_forward(xs, gb + c0, gb + g.c + c0, g.cg, g.hw, eps, ys);
    f32_commit(y, r * g.row, g.row, ys);
    m[r] = s.mean;
    rs[r] = s.rstd;
  });
}

void CpuBackend::group_norm_backward_impl(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                          int64_t groups, const Tensor& mean, const Tensor& rstd,
                                          Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  const Geometry g = geometry(x, groups);
  float* gam = op_scratch_.get_as<float>(static_cast<size_t>(g.c * (1 + 2 * g.n)));
  float* pg = gam + g.c;        // [n][c] dgamma sums
  float* pb = pg + g.n * g.c;   // [n][c] dbeta sums
  load_floats(gamma.raw(), gamma.dtype(), g.c, gam);
  size_t stride = 0;
  float* ts = thread_scratch(static_cast<size_t>(3 * g.row), &stride);
  const float* m = mean.data<float>();
  const float* rs = rstd.data<float>();
  for_each_row(threads_, g.n * groups, g.row, [&](int64_t r) {
    float* mine = ts + stride * static_cast<size_t>(omp_get_thread_num());
    const int64_t c0 = (r % groups) * g.cg, sample = r / groups;
    const float* dys = f32_in(dy, r * g.row, g.row, mine);
    const float* xs = f32_in(x, r * g.row, g.row, mine + g.row);
    float* dxs = f32_out(dx, r * g.row, mine + 2 * g.row);
    kernels::group_norm_row_backward(dys, xs, gam + c0, kernels::RowStats{m[r], rs[r]}, g.cg, g.hw,
                                     dxs, pg + sample * g.c + c0, pb + sample * g.c + c0);
    f32_commit(dx, r * g.row, g.row, dxs);
  });
  float* dg = dgamma.data<float>();
  float* db = dbeta.data<float>();
  for (int64_t c = 0; c < g.c; ++c) {
    double sg = 0.0, sb = 0.0;
    for (int64_t s = 0; s < g.n; ++s) {
      sg += pg[s * g.c + c];
      sb += pb[s * g.c + c];
    }
    dg[c] = static_cast<float>(dg[c] + sg);
    db[c] = static_cast<float>(db[c] + sb);
  }
}

}  // namespace mp::cpu
