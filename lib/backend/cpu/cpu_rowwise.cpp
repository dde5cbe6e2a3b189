// cpu_rowwise.cpp: CpuBackend's row-wise ops (layernorm forward/backward, the residual add fused
// with layernorm forward, softmax cross-entropy, mse, argmax): rows run in parallel, each staged
// through per-thread fp32 buffers and handed to the kernels/ row functions. LayerNorm's
// dgamma/dbeta use per-row-block partials combined in block order, so they do not depend on the
// thread count.
#include <omp.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_map.h"
#include "backend/op_checks.h"
#include "kernels/layernorm.h"
#include "kernels/mse.h"
#include "kernels/row_reduce.h"
#include "kernels/softmax_xent.h"

namespace mp::cpu {

namespace {

int thread_id() { return omp_get_thread_num(); }

// LayerNorm forward of every row of y [rows, cols]: stage(r, mine) returns row r's input as fp32
// (mine: 2 * cols floats of the thread's scratch it may use); gamma/beta are loaded once.
template <class Stage>
void layernorm_rows(CpuBackend& be, const Tensor& gamma, const Tensor& beta, float eps, Tensor& y,
                    Tensor& mean, Tensor& rstd, Stage&& stage) {
  const int64_t rows = y.rows(), cols = y.cols();
  float* gb = be.op_scratch().get_as<float>(static_cast<size_t>(2 * cols));
  load_floats(gamma.raw(), gamma.dtype(), cols, gb);
  load_floats(beta.raw(), beta.dtype(), cols, gb + cols);
  size_t stride = 0;
  float* ts = be.thread_scratch(static_cast<size_t>(3 * cols), &stride);
  float* m = mean.data<float>();
  float* rs = rstd.data<float>();
  for_each_row(be.threads(), rows, cols, [&](int64_t r) {
    float* mine = ts + stride * static_cast<size_t>(thread_id());
    const float* xs = stage(r, mine);
    float* ys = f32_out(y, r * cols, mine + 2 * cols);
    const kernels::RowStats s = kernels::layernorm_row_forward(xs, gb, gb + cols, cols, eps, ys);
    f32_commit(y, r * cols, cols, ys);
    m[r] = s.mean;
    rs[r] = s.rstd;
  });
}

}  // namespace

void CpuBackend::layernorm_forward_impl(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                        float eps, Tensor& y, Tensor& mean, Tensor& rstd) {
  const int64_t cols = x.cols();
  layernorm_rows(*this, gamma, beta, eps, y, mean, rstd,
                 [&](int64_t r, float* mine) { return f32_in(x, r * cols, cols, mine); });
}

// Per row: the sum a + b rounded into sum_out exactly as add() stores it (map2's staging), then
// the layernorm of the rounded row read back as layernorm_forward reads it, so the bits are those
// of the two separate ops, from one pass over the row while it is in cache.
void CpuBackend::add_layernorm_forward_impl(const Tensor& a, const Tensor& b, const Tensor& gamma,
                                            const Tensor& beta, float eps, Tensor& sum_out,
                                            Tensor& y, Tensor& mean, Tensor& rstd) {
  const int64_t cols = a.cols();
  layernorm_rows(*this, gamma, beta, eps, y, mean, rstd, [&](int64_t r, float* mine) {
    const int64_t off = r * cols;
    // a and b staged into mine (2 * cols); the sum into y's part of the scratch, free until the
    // layernorm writes it (after it has read the sum back from sum_out).
    const float* as = f32_in(a, off, cols, mine);
    const float* bs = f32_in(b, off, cols, mine + cols);
    float* ss = f32_out(sum_out, off, mine + 2 * cols);
    for (int64_t i = 0; i < cols; ++i) ss[i] = as[i] + bs[i];
    f32_commit(sum_out, off, cols, ss);
    return f32_in(sum_out, off, cols, mine);  // the rounded sum (a's staging is free)
  });
}

void CpuBackend::layernorm_backward_impl(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                         const Tensor& mean, const Tensor& rstd, Tensor& dx,
                                         Tensor& dgamma, Tensor& dbeta) {
  const int64_t rows = x.rows(), cols = x.cols();
  // Rows are split into at most kMaxBlocks blocks, fixed by the shape alone.
  constexpr int64_t kMaxBlocks = 64;
  const int64_t per_block = (rows + kMaxBlocks - 1) / kMaxBlocks;
  const int64_t blocks = (rows + per_block - 1) / per_block;
  // Without dgamma and dbeta (frozen or non-affine) no partials are summed at all.
  const bool param_grads = dgamma.defined() || dbeta.defined();
  float* g = op_scratch_.get_as<float>(static_cast<size_t>(cols * (1 + (param_grads ? 2 * blocks : 0))));
  float* part = g + cols;  // [blocks][2][cols]: dgamma then dbeta partials
  load_floats(gamma.raw(), gamma.dtype(), cols, g);
  size_t stride = 0;
  float* ts = thread_scratch(static_cast<size_t>(3 * cols), &stride);
  const float* m = mean.data<float>();
  const float* rs = rstd.data<float>();
  const bool par = threads_ > 1 && blocks > 1 && rows * cols >= kParallelMinElems;
#pragma omp parallel for schedule(static) num_threads(threads_) if (par)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    float* mine = ts + stride * static_cast<size_t>(thread_id());
    float* pg = param_grads ? part + blk * 2 * cols : nullptr;
    float* pb = param_grads ? pg + cols : nullptr;
    for (int64_t j = 0; param_grads && j < 2 * cols; ++j) pg[j] = 0.0f;
    const int64_t r1 = std::min(rows, (blk + 1) * per_block);
    for (int64_t r = blk * per_block; r < r1; ++r) {
      const float* dys = f32_in(dy, r * cols, cols, mine);
      const float* xs = f32_in(x, r * cols, cols, mine + cols);
      float* dxs = f32_out(dx, r * cols, mine + 2 * cols);
      kernels::layernorm_row_backward(dys, xs, g, kernels::RowStats{m[r], rs[r]}, cols, dxs, pg, pb);
      f32_commit(dx, r * cols, cols, dxs);
    }
  }
  float* dg = dgamma.defined() ? dgamma.data<float>() : nullptr;
  float* db = dbeta.defined() ? dbeta.data<float>() : nullptr;
  for (int64_t j = 0; param_grads && j < cols; ++j) {
    double sg = 0.0, sb = 0.0;
    for (int64_t blk = 0; blk < blocks; ++blk) {
      sg += part[blk * 2 * cols + j];
      sb += part[blk * 2 * cols + cols + j];
    }
    if (dg) dg[j] = static_cast<float>(dg[j] + sg);
    if (db) db[j] = static_cast<float>(db[j] + sb);
  }
}

void CpuBackend::softmax_xent_impl(const Tensor& logits, const Tensor& labels, int32_t ignore_index,
                                   float grad_scale, Tensor& losses, Tensor* dlogits) {
  const int64_t rows = logits.rows(), C = logits.cols();
  const int32_t* lab = labels.data<int32_t>();
  for (int64_t r = 0; r < rows; ++r)
    if (!kernels::xent_label_valid(lab[r], C, ignore_index))
      throw op_checks::bad_label(r, lab[r], C, ignore_index);
  size_t stride = 0;
  float* ts = thread_scratch(static_cast<size_t>(2 * C), &stride);
  float* out = losses.data<float>();
  for_each_row(threads_, rows, C, [&](int64_t r) {
    float* mine = ts + stride * static_cast<size_t>(thread_id());
    const float* xs = f32_in(logits, r * C, C, mine);
    float* ds = dlogits ? f32_out(*dlogits, r * C, mine + C) : nullptr;
    out[r] = kernels::softmax_xent_row(xs, C, lab[r], ignore_index, grad_scale, ds);
    if (dlogits) f32_commit(*dlogits, r * C, C, ds);
  });
}

void CpuBackend::mse_impl(const Tensor& pred, const Tensor& target, float grad_scale,
                          Tensor& losses, Tensor* dpred) {
  const int64_t rows = pred.rows(), cols = pred.cols();
  size_t stride = 0;
  float* ts = thread_scratch(static_cast<size_t>(3 * cols), &stride);
  float* out = losses.data<float>();
  for_each_row(threads_, rows, cols, [&](int64_t r) {
    float* mine = ts + stride * static_cast<size_t>(thread_id());
    const float* ps = f32_in(pred, r * cols, cols, mine);
    const float* qs = f32_in(target, r * cols, cols, mine + cols);
    float* ds = dpred ? f32_out(*dpred, r * cols, mine + 2 * cols) : nullptr;
    out[r] = kernels::mse_row(ps, qs, cols, grad_scale, ds);
    if (dpred) f32_commit(*dpred, r * cols, cols, ds);
  });
}

void CpuBackend::argmax_rows_impl(const Tensor& x, Tensor& out_i32) {
  const int64_t rows = x.rows(), cols = x.cols();
  size_t stride = 0;
  float* ts = thread_scratch(static_cast<size_t>(cols), &stride);
  int32_t* out = out_i32.data<int32_t>();
  for_each_row(threads_, rows, cols, [&](int64_t r) {
    float* mine = ts + stride * static_cast<size_t>(thread_id());
    out[r] = kernels::row_argmax(f32_in(x, r * cols, cols, mine), cols);
  });
}

}  // namespace mp::cpu
