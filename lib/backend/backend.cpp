// backend.cpp: Backend's front door (backend.h): each public op checks its arguments once, on
// behalf of every engine, then calls the engine's hook; and the default fused optimizer hooks,
// which compose the separate ops.
#include "backend/backend.h"

#include <cmath>
#include <cstring>
#include <initializer_list>
#include <utility>

#include "backend/gemm_desc.h"
#include "backend/op_checks.h"
#include "backend/op_graph_dispatch.h"
#include "backend/token_index.h"

namespace mp {

namespace {

// The op_checks of one op on one device.
class Args {
 public:
  Args(Device dev, const char* op) : dev_(dev), op_(op) {}
  void defined(const Tensor& t, const char* arg) const {
    op_checks::check_defined(t, dev_, op_, arg);
  }
  void floats(const Tensor& t, const char* arg) const { op_checks::check_float(t, dev_, op_, arg); }
  void dtype(const Tensor& t, DType dt, const char* arg) const {
    op_checks::check_dtype(t, dt, dev_, op_, arg);
  }
  void numel(const Tensor& t, int64_t n, const char* arg) const {
    op_checks::check_numel(t, n, op_, arg);
  }
  void rows(const Tensor& t, int64_t rows, int64_t cols, const char* arg) const {
    op_checks::check_rows(t, rows, cols, op_, arg);
  }
  // Both float tensors with one element count (an elementwise op's operands).
  void same(const Tensor& a, const char* an, const Tensor& b, const char* bn) const {
    floats(a, an);
    floats(b, bn);
    op_checks::check_same_numel(a, b, op_, an, bn);
  }
  // An fp32 optimizer state of param's size.
  void state(const Tensor& s, const Tensor& param, const char* arg) const {
    dtype(s, DType::F32, arg);
    numel(s, param.numel(), arg);
  }
  // param and grad of an optimizer step, and the fused step's working copy.
  void step(const Tensor& param, const Tensor& grad, const Tensor* working = nullptr) const {
    floats(param, "param");
    floats(grad, "grad");
    numel(grad, param.numel(), "grad");
    if (!working) return;
    floats(*working, "working");
    numel(*working, param.numel(), "working");
  }
  void sgd(const Tensor& param, const Tensor* momentum, const SgdHyper& h) const {
    const bool use_m = h.momentum != 0.0f;
    MP_CHECK(!use_m || momentum, std::string(op_) + ": momentum " + std::to_string(h.momentum) +
                                     " needs a momentum buffer, got none");
    if (use_m) state(*momentum, param, "momentum");
  }
  void adamw(const Tensor& param, const Tensor& m, const Tensor& v, const AdamWHyper& h) const {
    state(m, param, "m");
    state(v, param, "v");
    MP_CHECK(h.step >= 1,
             std::string(op_) + ": step must be >= 1 (1-based), got " + std::to_string(h.step));
  }

 private:
  Device dev_;
  const char* op_;
};

// dropout's offset_base: one int64 on the op's device.
void check_offset_base(const Args& a, const Tensor& base) {
  a.dtype(base, DType::I64, "offset_base");
  a.numel(base, 1, "offset_base");
}

void check_dropout_p(float p) {
  MP_CHECK(p >= 0.0f && p <= 1.0f, "dropout: p must be in [0, 1], got " + std::to_string(p));
}

}  // namespace

// ---- memory -------------------------------------------------------------------------------------

Tensor Backend::empty(const Shape& shape, DType dtype) {
  for (int64_t d : shape) MP_CHECK(d >= 0, "empty: negative dimension in " + shape_str(shape));
  ++allocations_;
  if (graph_ && hook_depth_ == 0 && pass_ != Pass::Eager) {
    // A graph pass's tensors belong to its graph: a verify pass gets the capture pass's back, in
    // order, so the captured addresses are the ones the host code uses again.
    OpGraph& g = *graph_;
    if (pass_ == Pass::Capture) {
      g.owned_.push_back(empty_impl(shape, dtype));
      return g.owned_.back();
    }
    if (g.alloc_cursor_ < g.owned_.size()) {
      const Tensor& t = g.owned_[g.alloc_cursor_];
      if (t.shape() == shape && t.dtype() == dtype) {
        ++g.alloc_cursor_;
        return t;
      }
    }
    graph_fallback("allocation " + std::to_string(g.alloc_cursor_) + " (" +
                   std::string(dtype_name(dtype)) + shape_str(shape) +
                   ") differs from the captured pass's");
  }
  return empty_impl(shape, dtype);
}

void Backend::upload(const void* host, Tensor& dst) {
  Args(device(), "upload").defined(dst, "dst");
  graph_barrier("upload");
  upload_impl(host, dst);
}

void Backend::download(const Tensor& src, void* host) {
  Args(device(), "download").defined(src, "src");
  ++host_reads_;
  graph_barrier("download");
  download_impl(src, host);
}

void Backend::copy(const Tensor& src, Tensor& dst) {
  const Args a(device(), "copy");
  a.defined(src, "src");
  a.defined(dst, "dst");
  MP_CHECK(src.dtype() == dst.dtype() && src.numel() == dst.numel(),
           "copy: src " + src.describe() + " and dst " + dst.describe() +
               " must have the same dtype and element count (use cast to convert)");
  run_op("copy", &Backend::copy_impl, src, dst);
}

// ---- GEMM ---------------------------------------------------------------------------------------

void Backend::gemm(bool trans_a, bool trans_b, float alpha, const Tensor& A, const Tensor& B,
                   float beta, Tensor& C, const Tensor* bias) {
  const GemmDesc s = resolve_gemm(device(), trans_a, trans_b, A, B, C, bias, false);
  if (!s.empty()) run_op("gemm", &Backend::gemm_impl, s, alpha, A, B, beta, C, bias);
}

void Backend::gemm_batched(bool trans_a, bool trans_b, float alpha, const Tensor& A,
                           const Tensor& B, float beta, Tensor& C) {
  const GemmDesc s = resolve_gemm(device(), trans_a, trans_b, A, B, C, nullptr, true);
  if (!s.empty()) run_op("gemm_batched", &Backend::gemm_impl, s, alpha, A, B, beta, C,
                           static_cast<const Tensor*>(nullptr));
}

// ---- elementwise --------------------------------------------------------------------------------

void Backend::fill(Tensor& x, float value) {
  Args(device(), "fill").floats(x, "x");
  run_op("fill", &Backend::fill_impl, x, value);
}

void Backend::cast(const Tensor& src, Tensor& dst) {
  Args(device(), "cast").same(src, "src", dst, "dst");
  run_op("cast", &Backend::cast_impl, src, dst);
}

void Backend::scale(Tensor& x, float alpha) {
  Args(device(), "scale").floats(x, "x");
  run_op("scale", &Backend::scale_impl, x, alpha);
}

void Backend::add(const Tensor& a, const Tensor& b, Tensor& out) {
  const Args c(device(), "add");
  c.same(a, "a", b, "b");
  c.same(a, "a", out, "out");
  run_op("add", &Backend::add_impl, a, b, out);
}

void Backend::accumulate(const Tensor& src, Tensor& dst) {
  Args(device(), "accumulate").same(src, "src", dst, "dst");
  run_op("accumulate", &Backend::accumulate_impl, src, dst);
}

void Backend::activation_forward(Act act, const Tensor& x, Tensor& y) {
  Args(device(), "activation_forward").same(x, "x", y, "y");
  run_op("activation_forward", &Backend::activation_forward_impl, act, x, y);
}

void Backend::activation_backward(Act act, const Tensor& x, const Tensor& dy, Tensor& dx) {
  const Args a(device(), "activation_backward");
  a.same(x, "x", dy, "dy");
  a.same(x, "x", dx, "dx");
  run_op("activation_backward", &Backend::activation_backward_impl, act, x, dy, dx);
}

void Backend::dropout_forward(const Tensor& x, Tensor& y, float p, uint64_t seed, uint64_t offset,
                              const Tensor* offset_base) {
  const Args a(device(), "dropout_forward");
  a.same(x, "x", y, "y");
  check_dropout_p(p);
  if (offset_base) check_offset_base(a, *offset_base);
  run_op("dropout_forward", &Backend::dropout_forward_impl, x, y, p, seed, offset, offset_base);
}

void Backend::dropout_backward(const Tensor& dy, Tensor& dx, float p, uint64_t seed,
                               uint64_t offset, const Tensor* offset_base) {
  const Args a(device(), "dropout_backward");
  a.same(dy, "dy", dx, "dx");
  check_dropout_p(p);
  if (offset_base) check_offset_base(a, *offset_base);
  run_op("dropout_backward", &Backend::dropout_backward_impl, dy, dx, p, seed, offset,
         offset_base);
}

void Backend::bias_grad(const Tensor& dy, Tensor& db, float beta) {
  const Args a(device(), "bias_grad");
  a.floats(dy, "dy");
  a.dtype(db, DType::F32, "db");
  a.numel(db, dy.cols(), "db");
  run_op("bias_grad", &Backend::bias_grad_impl, dy, db, beta);
}

// ---- row-wise -----------------------------------------------------------------------------------

void Backend::layernorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                                Tensor& y, Tensor& mean, Tensor& rstd) {
  const Args a(device(), "layernorm_forward");
  a.floats(x, "x");
  a.floats(gamma, "gamma");
  a.floats(beta, "beta");
  a.floats(y, "y");
  a.dtype(mean, DType::F32, "mean");
  a.dtype(rstd, DType::F32, "rstd");
  const int64_t rows = x.rows(), cols = x.cols();
  a.numel(gamma, cols, "gamma");
  a.numel(beta, cols, "beta");
  a.rows(y, rows, cols, "y");
  a.numel(mean, rows, "mean");
  a.numel(rstd, rows, "rstd");
  if (rows == 0 || cols == 0) return;
  run_op("layernorm_forward", &Backend::layernorm_forward_impl, x, gamma, beta, eps, y, mean, rstd);
}

void Backend::add_layernorm_forward(const Tensor& a, const Tensor& b, const Tensor& gamma,
                                    const Tensor& beta, float eps, Tensor& sum_out, Tensor& y,
                                    Tensor& mean, Tensor& rstd) {
  const char* op = "add_layernorm_forward";
  const Args c(device(), op);
  c.floats(a, "a");
  for (auto [t, name] : {std::pair<const Tensor*, const char*>{&b, "b"}, {&sum_out, "sum_out"},
                         {&y, "y"}})
    c.dtype(*t, a.dtype(), name);
  c.floats(gamma, "gamma");
  c.floats(beta, "beta");
  c.dtype(mean, DType::F32, "mean");
  c.dtype(rstd, DType::F32, "rstd");
  const int64_t rows = a.rows(), cols = a.cols();
  c.rows(b, rows, cols, "b");
  c.rows(sum_out, rows, cols, "sum_out");
  c.rows(y, rows, cols, "y");
  c.numel(gamma, cols, "gamma");
  c.numel(beta, cols, "beta");
  c.numel(mean, rows, "mean");
  c.numel(rstd, rows, "rstd");
  for (const Tensor* t : {&a, &b, static_cast<const Tensor*>(&sum_out)})
    MP_CHECK(t->numel() == 0 || t->raw() != y.raw(),
             std::string(op) + ": y must not alias a, b or sum_out (it is written while they are "
                               "still read)");
  if (rows == 0 || cols == 0) return;
  run_op("add_layernorm_forward", &Backend::add_layernorm_forward_impl, a, b, gamma, beta, eps, sum_out, y, mean, rstd);
}

void Backend::layernorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                 const Tensor& mean, const Tensor& rstd, Tensor& dx, Tensor& dgamma,
                                 Tensor& dbeta) {
  const Args a(device(), "layernorm_backward");
  a.floats(dy, "dy");
  a.floats(x, "x");
  a.floats(gamma, "gamma");
  a.floats(dx, "dx");
  a.dtype(mean, DType::F32, "mean");
  a.dtype(rstd, DType::F32, "rstd");
  if (dgamma.defined()) a.dtype(dgamma, DType::F32, "dgamma");
  if (dbeta.defined()) a.dtype(dbeta, DType::F32, "dbeta");
  const int64_t rows = x.rows(), cols = x.cols();
  a.rows(dy, rows, cols, "dy");
  a.rows(dx, rows, cols, "dx");
  a.numel(gamma, cols, "gamma");
  a.numel(mean, rows, "mean");
  a.numel(rstd, rows, "rstd");
  if (dgamma.defined()) a.numel(dgamma, cols, "dgamma");
  if (dbeta.defined()) a.numel(dbeta, cols, "dbeta");
  if (rows == 0 || cols == 0) return;
  run_op("layernorm_backward", &Backend::layernorm_backward_impl, dy, x, gamma, mean, rstd, dx, dgamma, dbeta);
}

namespace {
// softmax_xent's arguments (and softmax_xent_deferred's); false when there are no rows.
bool check_xent_args(const Args& a, const Tensor& logits, const Tensor& labels,
                     const Tensor& losses, const Tensor* dlogits) {
  a.floats(logits, "logits");
  a.dtype(labels, DType::I32, "labels");
  a.dtype(losses, DType::F32, "losses");
  const int64_t rows = logits.rows(), C = logits.cols();
  a.numel(labels, rows, "labels");
  a.numel(losses, rows, "losses");
  if (dlogits) {
    a.floats(*dlogits, "dlogits");
    a.rows(*dlogits, rows, C, "dlogits");
  }
  return rows > 0;
}
}  // namespace

void Backend::softmax_xent(const Tensor& logits, const Tensor& labels, int32_t ignore_index,
                           float grad_scale, Tensor& losses, Tensor* dlogits) {
  if (!check_xent_args(Args(device(), "softmax_xent"), logits, labels, losses, dlogits)) return;
  ++host_reads_;  // the bad-label check waits for the device
  graph_barrier("softmax_xent");
  softmax_xent_impl(logits, labels, ignore_index, grad_scale, losses, dlogits);
}

void Backend::mse(const Tensor& pred, const Tensor& target, float grad_scale, Tensor& losses,
                  Tensor* dpred) {
  const Args a(device(), "mse");
  a.floats(pred, "pred");
  a.floats(target, "target");
  a.dtype(losses, DType::F32, "losses");
  const int64_t rows = pred.rows(), cols = pred.cols();
  a.rows(target, rows, cols, "target");
  a.numel(losses, rows, "losses");
  if (dpred) {
    a.floats(*dpred, "dpred");
    a.rows(*dpred, rows, cols, "dpred");
  }
  if (rows == 0) return;
  run_op("mse", &Backend::mse_impl, pred, target, grad_scale, losses, dpred);
}

void Backend::argmax_rows(const Tensor& x, Tensor& out_i32) {
  const Args a(device(), "argmax_rows");
  a.floats(x, "x");
  a.dtype(out_i32, DType::I32, "out_i32");
  a.numel(out_i32, x.rows(), "out_i32");
  if (x.rows() == 0) return;
  run_op("argmax_rows", &Backend::argmax_rows_impl, x, out_i32);
}

// ---- attention ----------------------------------------------------------------------------------

namespace {

// x [B, T, W] interleaved and y [parts * B * heads, T, d] per head, W = parts * heads * d.
void check_heads(const Args& a, const char* op, const Tensor& inter, const char* in_name,
                 const Tensor& per_head, const char* ph_name, int64_t parts, int64_t heads) {
  a.floats(inter, in_name);
  a.dtype(per_head, inter.dtype(), ph_name);
  MP_CHECK(parts >= 1 && heads >= 1, std::string(op) + ": parts " + std::to_string(parts) +
                                         " and heads " + std::to_string(heads) + " must be >= 1");
  MP_CHECK(inter.shape().size() == 3 && inter.shape()[2] % (parts * heads) == 0,
           std::string(op) + ": " + in_name + " is " + inter.describe() + ", expected [B, T, " +
               std::to_string(parts) + " * " + std::to_string(heads) + " * d]");
  const int64_t B = inter.shape()[0], T = inter.shape()[1], d = inter.shape()[2] / (parts * heads);
  MP_CHECK(per_head.shape() == Shape({parts * B * heads, T, d}),
           std::string(op) + ": " + ph_name + " is " + per_head.describe() + ", expected " +
               shape_str({parts * B * heads, T, d}));
}

// s [..., T, T]: rows of T that come in whole T x T blocks.
void check_scores(const Args& a, const char* op, const Tensor& s, const char* name) {
  a.floats(s, name);
  const int64_t T = s.cols();
  MP_CHECK(s.shape().size() >= 2 && s.shape()[s.shape().size() - 2] == T,
           std::string(op) + ": " + name + " is " + s.describe() + ", expected [..., T, T] scores");
}

}  // namespace

void Backend::split_heads(const Tensor& x, Tensor& out, int64_t parts, int64_t heads) {
  const Args a(device(), "split_heads");
  check_heads(a, "split_heads", x, "x", out, "out", parts, heads);
  if (x.numel() > 0) run_op("split_heads", &Backend::split_heads_impl, x, out, parts, heads);
}

void Backend::merge_heads(const Tensor& x, Tensor& out, int64_t parts, int64_t heads) {
  const Args a(device(), "merge_heads");
  check_heads(a, "merge_heads", out, "out", x, "x", parts, heads);
  if (x.numel() > 0) run_op("merge_heads", &Backend::merge_heads_impl, x, out, parts, heads);
}

void Backend::causal_softmax_forward(const Tensor& s, Tensor& p) {
  const Args a(device(), "causal_softmax_forward");
  check_scores(a, "causal_softmax_forward", s, "s");
  a.dtype(p, s.dtype(), "p");
  a.rows(p, s.rows(), s.cols(), "p");
  if (s.numel() > 0) run_op("causal_softmax_forward", &Backend::causal_softmax_forward_impl, s, p);
}

void Backend::causal_softmax_backward(const Tensor& p, const Tensor& dp, Tensor& ds) {
  const Args a(device(), "causal_softmax_backward");
  check_scores(a, "causal_softmax_backward", p, "p");
  a.dtype(dp, p.dtype(), "dp");
  a.dtype(ds, p.dtype(), "ds");
  a.rows(dp, p.rows(), p.cols(), "dp");
  a.rows(ds, p.rows(), p.cols(), "ds");
  if (p.numel() > 0) run_op("causal_softmax_backward", &Backend::causal_softmax_backward_impl, p, dp, ds);
}

// ---- Linear + GELU(tanh) fusions ----------------------------------------------------------------

namespace {

// The fused ops' extra rule over gemm's: the GEMM's output `c` and the other [M, N] operand `t`
// (y of the forward, pre of the backward) in the GEMM inputs' dtype D (a 16-bit pre or dpre is
// what the Linear stores; an fp32 C is only the weight gradient's, linear_param_grad).
void check_fused_operands(const Args& a, const GemmDesc& s, DType d, const Tensor& c,
                          const char* cn, const Tensor& t, const char* tn) {
  a.dtype(c, d, cn);
  a.floats(t, tn);
  a.dtype(t, d, tn);
  a.rows(t, s.M, s.N, tn);
}

// q, k, v (and out, dout, dq, dk, dv) [N, T, d] of one float dtype; lse fp32 [N, T].
void check_attention(const Args& a, const char* op, const Tensor& q,
                     std::initializer_list<std::pair<const Tensor*, const char*>> same,
                     const Tensor& lse, float scale) {
  a.floats(q, "q");
  MP_CHECK(q.shape().size() == 3, std::string(op) + ": q is " + q.describe() +
                                      ", expected [N, T, d] (heads split: N = batch * heads)");
  for (auto [t, name] : same) {
    a.dtype(*t, q.dtype(), name);
    MP_CHECK(t->shape() == q.shape(), std::string(op) + ": " + name + " is " + t->describe() +
                                          ", expected q's shape " + shape_str(q.shape()));
  }
  a.dtype(lse, DType::F32, "lse");
  MP_CHECK(lse.shape() == Shape({q.shape()[0], q.shape()[1]}),
           std::string(op) + ": lse is " + lse.describe() + ", expected fp32 " +
               shape_str({q.shape()[0], q.shape()[1]}) + " (one value per query row)");
  MP_CHECK(std::isfinite(scale) && scale > 0.0f,
           std::string(op) + ": scale must be finite and > 0, got " + std::to_string(scale));
}

void check_head_dim(const char* op, int64_t d, bool supported) {
  MP_CHECK(supported, std::string(op) + ": head dim " + std::to_string(d) +
                          " is not supported by this engine's fused attention (ask "
                          "fused_attention_supports first; the unfused ops take any)");
}

}  // namespace

void Backend::linear_gelu_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& pre,
                                  Tensor& y) {
  const GemmDesc s = resolve_gemm(device(), false, true, x, w, pre, bias, false);
  check_fused_operands(Args(device(), "linear_gelu_forward"), s, x.dtype(), pre, "pre", y, "y");
  if (!s.empty()) run_op("linear_gelu_forward", &Backend::linear_gelu_forward_impl, s, x, w, bias, pre, y);
}

void Backend::linear_dgelu_backward(const Tensor& dy, const Tensor& w, const Tensor& pre,
                                    Tensor& dpre) {
  const GemmDesc s = resolve_gemm(device(), false, false, dy, w, dpre, nullptr, false);
  check_fused_operands(Args(device(), "linear_dgelu_backward"), s, dy.dtype(), dpre, "dpre", pre,
                       "pre");
  if (!s.empty()) run_op("linear_dgelu_backward", &Backend::linear_dgelu_backward_impl, s, dy, w, pre, dpre);
}

void Backend::linear_param_grad(const Tensor& dy, const Tensor& x, float beta, Tensor& dw,
                                Tensor& db) {
  const GemmDesc s = resolve_gemm(device(), true, false, dy, x, dw, nullptr, false);
  const Args a(device(), "linear_param_grad");
  a.dtype(dw, DType::F32, "dw");
  a.dtype(db, DType::F32, "db");
  a.numel(db, s.M, "db");
  // An empty dw still has a bias gradient (K inputs = 0) to scale: the composition handles it.
  run_op("linear_param_grad", &Backend::linear_param_grad_impl, s, dy, x, beta, dw, db);
}

void linear_gelu_forward_by_ops(Backend& be, const Tensor& x, const Tensor& w, const Tensor* bias,
                                Tensor& pre, Tensor& y) {
  be.gemm(false, true, 1.0f, x, w, 0.0f, pre, bias);
  be.activation_forward(Act::GeluTanh, pre, y);
}

void linear_dgelu_backward_by_ops(Backend& be, const Tensor& dy, const Tensor& w,
                                  const Tensor& pre, Tensor& dpre) {
  be.gemm(false, false, 1.0f, dy, w, 0.0f, dpre);
  // In place: each element of dx is computed from the same element of x and dy alone.
  be.activation_backward(Act::GeluTanh, pre, dpre, dpre);
}

void linear_param_grad_by_ops(Backend& be, const Tensor& dy, const Tensor& x, float beta,
                              Tensor& dw, Tensor& db) {
  be.gemm(true, false, 1.0f, dy, x, beta, dw);
  be.bias_grad(dy, db, beta);
}

void Backend::attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, float scale,
                                Tensor& out, Tensor& lse) {
  const char* op = "attention_forward";
  const Args a(device(), op);
  check_attention(a, op, q, {{&k, "k"}, {&v, "v"}, {&out, "out"}}, lse, scale);
  if (q.numel() == 0) return;
  check_head_dim(op, q.shape()[2], fused_attention_supports(q.shape()[2]));
  run_op("attention_forward", &Backend::attention_forward_impl, q, k, v, scale, out, lse);
}

void Backend::attention_backward(const Tensor& q, const Tensor& k, const Tensor& v,
                                 const Tensor& out, const Tensor& dout, const Tensor& lse,
                                 float scale, Tensor& dq, Tensor& dk, Tensor& dv) {
  const char* op = "attention_backward";
  const Args a(device(), op);
  check_attention(a, op, q,
                  {{&k, "k"}, {&v, "v"}, {&out, "out"}, {&dout, "dout"}, {&dq, "dq"}, {&dk, "dk"},
                   {&dv, "dv"}},
                  lse, scale);
  if (q.numel() == 0) return;
  check_head_dim(op, q.shape()[2], fused_attention_supports(q.shape()[2]));
  run_op("attention_backward", &Backend::attention_backward_impl, q, k, v, out, dout, lse, scale, dq, dk, dv);
}

// ---- reductions and the optimizer step ----------------------------------------------------------

double Backend::sum(const Tensor& x) {
  Args(device(), "sum").floats(x, "x");
  ++host_reads_;
  graph_barrier("sum");
  return sum_impl(x);
}

double Backend::sum_squares(const Tensor& x) {
  Args(device(), "sum_squares").floats(x, "x");
  ++host_reads_;
  graph_barrier("sum_squares");
  return sum_squares_impl(x);
}

bool Backend::unscale_and_check(Tensor& x, float inv_scale) {
  Args(device(), "unscale_and_check").floats(x, "x");
  ++host_reads_;
  graph_barrier("unscale_and_check");
  return unscale_and_check_impl(x, inv_scale);
}

void Backend::magnitude_stats(const Tensor& x, float factor, float threshold, int64_t& below,
                              float& max_abs) {
  Args(device(), "magnitude_stats").floats(x, "x");
  ++host_reads_;
  graph_barrier("magnitude_stats");
  magnitude_stats_impl(x, factor, threshold, below, max_abs);
}

void Backend::sgd_step(Tensor& param, const Tensor& grad, Tensor* momentum, const SgdHyper& h,
                       const Rounding& r) {
  const Args a(device(), "sgd_step");
  a.step(param, grad);
  a.sgd(param, momentum, h);
  graph_barrier("sgd_step");
  sgd_step_impl(param, grad, momentum, h, r);
}

void Backend::adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                         const AdamWHyper& h, const Rounding& r) {
  const Args a(device(), "adamw_step");
  a.step(param, grad);
  a.adamw(param, m, v, h);
  graph_barrier("adamw_step");
  adamw_step_impl(param, grad, m, v, h, r);
}

GradCheck Backend::check_grad(const Tensor& grad, float inv_scale) {
  Args(device(), "check_grad").floats(grad, "grad");
  ++host_reads_;
  graph_barrier("check_grad");
  return check_grad_impl(grad, inv_scale);
}

void Backend::adamw_step_fused(Tensor& param, Tensor& grad, Tensor& m, Tensor& v,
                               const AdamWHyper& h, const Rounding& r, const GradPrep& prep,
                               Tensor* working) {
  const Args a(device(), "adamw_step_fused");
  a.step(param, grad, working);
  a.adamw(param, m, v, h);
  graph_barrier("adamw_step_fused");
  adamw_step_fused_impl(param, grad, m, v, h, r, prep, working);
}

void Backend::sgd_step_fused(Tensor& param, Tensor& grad, Tensor* momentum, const SgdHyper& h,
                             const Rounding& r, const GradPrep& prep, Tensor* working) {
  const Args a(device(), "sgd_step_fused");
  a.step(param, grad, working);
  a.sgd(param, momentum, h);
  graph_barrier("sgd_step_fused");
  sgd_step_fused_impl(param, grad, momentum, h, r, prep, working);
}

// ---- one read-back per optimizer step --------------------------------------------------------

namespace {
void check_stats(const Args& a, const Tensor& stats) {
  a.dtype(stats, DType::I64, "stats");
  a.numel(stats, kStepStatSlots, "stats");
}
}  // namespace

Tensor Backend::make_step_stats() {
  Tensor t = empty({kStepStatSlots}, DType::I64);
  clear_step_stats(t);
  return t;
}

void Backend::clear_step_stats(Tensor& stats) {
  check_stats(Args(device(), "clear_step_stats"), stats);
  run_op("clear_step_stats", &Backend::clear_step_stats_impl, stats);
}

StepStats Backend::read_step_stats(const Tensor& stats) {
  check_stats(Args(device(), "read_step_stats"), stats);
  int64_t v[kStepStatSlots];
  download(stats, v);  // the one read (counted by download)
  StepStats s;
  std::memcpy(&s.loss_sum, &v[kStatLossSum], sizeof(double));
  std::memcpy(&s.sum_squares, &v[kStatSumSquares], sizeof(double));
  s.nonfinite = (v[kStatGradFlags] & 1) != 0;
  s.scaled_nonfinite = (v[kStatGradFlags] & 2) != 0;
  s.bad_label = v[kStatBadLabel] != 0;
  if (s.bad_label) unpack_bad_label(v[kStatBadLabel], s.bad_row, s.bad_label_value);
  s.bad_token = v[kStatBadToken] != 0;
  if (s.bad_token) {
    int32_t id_bits = 0;
    unpack_bad_label(v[kStatBadToken], s.bad_token_index, id_bits);
    std::memcpy(&s.bad_token_id, &id_bits, sizeof(float));
  }
  return s;
}

void Backend::sum_into(const Tensor& x, Tensor& stats, int64_t slot) {
  const Args a(device(), "sum_into");
  a.floats(x, "x");
  check_stats(a, stats);
  MP_CHECK(slot == kStatLossSum || slot == kStatSumSquares,
           "sum_into: slot must hold fp64 (kStatLossSum or kStatSumSquares), got " +
               std::to_string(slot));
  run_op("sum_into", &Backend::sum_into_impl, x, stats, slot);
}

void Backend::softmax_xent_deferred(const Tensor& logits, const Tensor& labels,
                                    int32_t ignore_index, float grad_scale, Tensor& losses,
                                    Tensor* dlogits, Tensor& stats) {
  const Args a(device(), "softmax_xent_deferred");
  check_stats(a, stats);
  if (!check_xent_args(a, logits, labels, losses, dlogits)) return;
  MP_CHECK(logits.rows() < 0x7fffffff, "softmax_xent_deferred: more than 2^31 - 2 rows");
  run_op("softmax_xent_deferred", &Backend::softmax_xent_deferred_impl, logits, labels, ignore_index, grad_scale, losses, dlogits, stats);
}

void Backend::check_grads(const std::vector<const Tensor*>& grads, float inv_scale,
                          Tensor& stats) {
  const Args a(device(), "check_grads");
  check_stats(a, stats);
  for (const Tensor* g : grads) {
    MP_CHECK(g != nullptr, "check_grads: null gradient");
    a.dtype(*g, DType::F32, "grad");
  }
  graph_barrier("check_grads");
  check_grads_impl(grads, inv_scale, stats);
}

namespace {
void check_update(const Args& a, const ParamUpdate& u) {
  MP_CHECK(u.param && u.grad, "multi-tensor step: a ParamUpdate without param or grad");
  a.step(*u.param, *u.grad, u.working);
  a.dtype(*u.grad, DType::F32, "grad");
}
}  // namespace

void Backend::adamw_step_multi(const std::vector<ParamUpdate>& ps, const AdamWHyper& h,
                               const GradPrep& prep) {
  const Args a(device(), "adamw_step_multi");
  for (const ParamUpdate& u : ps) {
    check_update(a, u);
    MP_CHECK(u.m && u.v, "adamw_step_multi: a ParamUpdate without m or v");
    a.adamw(*u.param, *u.m, *u.v, h);
  }
  graph_barrier("adamw_step_multi");
  adamw_step_multi_impl(ps, h, prep);
}

void Backend::sgd_step_multi(const std::vector<ParamUpdate>& ps, const SgdHyper& h,
                             const GradPrep& prep) {
  const Args a(device(), "sgd_step_multi");
  for (const ParamUpdate& u : ps) {
    check_update(a, u);
    a.sgd(*u.param, u.m, h);
  }
  graph_barrier("sgd_step_multi");
  sgd_step_multi_impl(ps, h, prep);
}

void Backend::adamw_step_multi_impl(const std::vector<ParamUpdate>& ps, const AdamWHyper& h,
                                    const GradPrep& prep) {
  for (const ParamUpdate& u : ps) {
    AdamWHyper hp = h;
    hp.weight_decay = u.weight_decay;
    adamw_step_fused(*u.param, *u.grad, *u.m, *u.v, hp, u.rounding, prep, u.working);
  }
}

void Backend::sgd_step_multi_impl(const std::vector<ParamUpdate>& ps, const SgdHyper& h,
                                  const GradPrep& prep) {
  for (const ParamUpdate& u : ps) {
    SgdHyper hp = h;
    hp.weight_decay = u.weight_decay;
    sgd_step_fused(*u.param, *u.grad, u.m, hp, u.rounding, prep, u.working);
  }
}

// ---- random -------------------------------------------------------------------------------------

void Backend::random_uniform(Tensor& x, float lo, float hi, uint64_t seed, uint64_t offset) {
  Args(device(), "random_uniform").floats(x, "x");
  run_op("random_uniform", &Backend::random_uniform_impl, x, lo, hi, seed, offset);
}

void Backend::random_normal(Tensor& x, float mean, float std, uint64_t seed, uint64_t offset) {
  Args(device(), "random_normal").floats(x, "x");
  run_op("random_normal", &Backend::random_normal_impl, x, mean, std, seed, offset);
}

// ---- embedding ----------------------------------------------------------------------------------

namespace {

// The arguments both embedding ops share: fp32 ids of N elements (N < 2^31: the engines index
// positions in int32) and a [V, D] table `table` (weight or dweight) with V, D > 0.
void check_embedding_args(const Args& a, const Tensor& ids, const Tensor& table, const char* tn) {
  a.dtype(ids, DType::F32, "ids");
  MP_CHECK(ids.numel() < (int64_t{1} << 31), "embedding: more than 2^31 token ids in one call");
  MP_CHECK(table.ndim() == 2 && table.dim(0) > 0 && table.dim(1) > 0,
           std::string("embedding: ") + tn + " must be a [vocab, dim] table, got " + table.describe());
}

// The checks of embedding_forward(_deferred); false when there are no ids.
bool check_embedding_forward(const Args& a, const Tensor& ids, const Tensor& weight,
                             const Tensor& out) {
  a.floats(weight, "weight");
  check_embedding_args(a, ids, weight, "weight");
  a.dtype(out, weight.dtype(), "out");
  a.rows(out, ids.numel(), weight.dim(1), "out");
  return ids.numel() > 0;
}

bool check_embedding_backward(const Args& a, const Tensor& ids, const Tensor& dy,
                              const Tensor& dweight) {
  a.dtype(dweight, DType::F32, "dweight");
  check_embedding_args(a, ids, dweight, "dweight");
  a.floats(dy, "dy");
  a.rows(dy, ids.numel(), dweight.dim(1), "dy");
  return ids.numel() > 0;
}

}  // namespace

// The raising ops are the deferred ones on a fresh stats tensor, read back at once (one host read,
// counted by read_step_stats's download): one engine code path for both, and the same DataError.
void Backend::embedding_forward(const Tensor& ids, const Tensor& weight, Tensor& out) {
  if (!check_embedding_forward(Args(device(), "embedding_forward"), ids, weight, out)) return;
  graph_barrier("embedding_forward");  // it reads back: a graph pass ends before its hook runs
  Tensor stats = make_step_stats();
  embedding_forward_impl(ids, weight, out, stats);
  const StepStats s = read_step_stats(stats);
  if (s.bad_token) throw token_index::bad_token(ids.shape(), s.bad_token_index, s.bad_token_id,
                                                weight.dim(0));
}

void Backend::embedding_backward(const Tensor& ids, const Tensor& dy, Tensor& dweight) {
  if (!check_embedding_backward(Args(device(), "embedding_backward"), ids, dy, dweight)) return;
  graph_barrier("embedding_backward");
  Tensor stats = make_step_stats();
  embedding_backward_impl(ids, dy, dweight, stats);
  const StepStats s = read_step_stats(stats);
  if (s.bad_token) throw token_index::bad_token(ids.shape(), s.bad_token_index, s.bad_token_id,
                                                dweight.dim(0));
}

void Backend::embedding_forward_deferred(const Tensor& ids, const Tensor& weight, Tensor& out,
                                         Tensor& stats) {
  const Args a(device(), "embedding_forward_deferred");
  check_stats(a, stats);
  if (check_embedding_forward(a, ids, weight, out))
    run_op("embedding_forward_deferred", &Backend::embedding_forward_impl, ids, weight, out, stats);
}

void Backend::embedding_backward_deferred(const Tensor& ids, const Tensor& dy, Tensor& dweight,
                                          Tensor& stats) {
  const Args a(device(), "embedding_backward_deferred");
  check_stats(a, stats);
  if (check_embedding_backward(a, ids, dy, dweight))
    run_op("embedding_backward_deferred", &Backend::embedding_backward_impl, ids, dy, dweight,
           stats);
}

// ---- the default fused hooks: the separate ops ------------------------------------------------

GradCheck Backend::check_grad_impl(const Tensor& grad, float inv_scale) {
  return check_grad_by_ops(*this, grad, inv_scale);
}

void Backend::adamw_step_fused_impl(Tensor& param, Tensor& grad, Tensor& m, Tensor& v,
                                    const AdamWHyper& h, const Rounding& r, const GradPrep& prep,
                                    Tensor* working) {
  adamw_step_fused_by_ops(*this, param, grad, m, v, h, r, prep, working);
}

void Backend::sgd_step_fused_impl(Tensor& param, Tensor& grad, Tensor* momentum, const SgdHyper& h,
                                  const Rounding& r, const GradPrep& prep, Tensor* working) {
  sgd_step_fused_by_ops(*this, param, grad, momentum, h, r, prep, working);
}

GradCheck check_grad_by_ops(Backend& be, const Tensor& grad, float inv_scale) {
  Tensor t = be.empty(grad.shape(), grad.dtype());
  be.copy(grad, t);
  GradCheck c;
  c.nonfinite = be.unscale_and_check(t, inv_scale);
  c.sum_squares = be.sum_squares(t);
  // With inv_scale <= 1 a finite element stays finite, so the two flags agree; otherwise (only
  // on the rare skipping step) check grad as stored in a second pass.
  c.scaled_nonfinite = c.nonfinite;
  if (c.nonfinite && inv_scale > 1.0f) {
    be.copy(grad, t);
    c.scaled_nonfinite = be.unscale_and_check(t, 1.0f);
  }
  return c;
}

namespace {
void prepare_grad(Backend& be, Tensor& grad, const GradPrep& prep) {
  if (prep.inv_scale != 1.0f) be.unscale_and_check(grad, prep.inv_scale);
  if (prep.clip) be.scale(grad, prep.clip_coef);
}
void finish_step(Backend& be, const Tensor& param, Tensor& grad, const GradPrep& prep,
                 Tensor* working) {
  if (working) be.cast(param, *working);
  if (prep.zero_grad) be.fill(grad, 0.0f);
}
}  // namespace

void adamw_step_fused_by_ops(Backend& be, Tensor& param, Tensor& grad, Tensor& m, Tensor& v,
                             const AdamWHyper& h, const Rounding& r, const GradPrep& prep,
                             Tensor* working) {
  prepare_grad(be, grad, prep);
  be.adamw_step(param, grad, m, v, h, r);
  finish_step(be, param, grad, prep, working);
}

void sgd_step_fused_by_ops(Backend& be, Tensor& param, Tensor& grad, Tensor* momentum,
                           const SgdHyper& h, const Rounding& r, const GradPrep& prep,
                           Tensor* working) {
  prepare_grad(be, grad, prep);
  be.sgd_step(param, grad, momentum, h, r);
  finish_step(be, param, grad, prep, working);
}

}  // namespace mp
