// timing_backend.h: a Backend decorator for benchmarks that forwards every call to a real backend
// and adds the call's wall time to a per-op total (GEMMs by shape and transposes). Used by
// bench_train_mlp --breakdown to show where a training step's time goes, and by bench_train_spec to
// count a step's GEMM flops. Its hooks forward to the
// inner backend's public ops (which check the arguments again: a benchmark can afford it).
#pragma once
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "backend/backend.h"
#include "backend/gemm_desc.h"

namespace mp::bench {

class TimingBackend final : public Backend {
 private:
  template <class F>
  auto T(const std::string& key, F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    struct Done {
      std::map<std::string, Stat>& st;
      const std::string& k;
      std::chrono::steady_clock::time_point t0;
      ~Done() {
        Stat& s = st[k];
        s.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        ++s.calls;
      }
    } done{stats_, key, t0};
    return f();
  }

 public:
  explicit TimingBackend(std::unique_ptr<Backend> inner) : in_(std::move(inner)) {}

  struct Stat {
    double seconds = 0;
    long long calls = 0;
  };
  const std::map<std::string, Stat>& stats() const { return stats_; }
  // Floating-point operations of the GEMMs run since the last reset (2 M N K per matrix product).
  double gemm_flop() const { return gemm_flop_; }
  void reset() {
    stats_.clear();
    gemm_flop_ = 0;
  }
  Backend& inner() { return *in_; }

  Device device() const override { return in_->device(); }
  std::string name() const override { return in_->name(); }
  NativeLowPrecision native_low_precision() const override { return in_->native_low_precision(); }
  void synchronize() override { in_->synchronize(); }
  size_t peak_memory_bytes() const override { return in_->peak_memory_bytes(); }
  bool fused_attention_supports(int64_t d) const override {
    return in_->fused_attention_supports(d);
  }

 protected:
  Tensor empty_impl(const Shape& s, DType dt) override {
    return T("empty", [&] { return in_->empty(s, dt); });
  }
  void upload_impl(const void* h, Tensor& d) override {
    T("upload", [&] { in_->upload(h, d); });
  }
  void download_impl(const Tensor& s, void* h) override {
    T("download", [&] { in_->download(s, h); });
  }
  void copy_impl(const Tensor& s, Tensor& d) override {
    T("copy", [&] { in_->copy(s, d); });
  }

  void gemm_impl(const GemmDesc& s, float alpha, const Tensor& A, const Tensor& B, float beta,
                 Tensor& C, const Tensor* bias) override {
    gemm_flop_ += 2.0 * double(s.M) * double(s.N) * double(s.K) * double(s.batched ? s.batch : 1);
    if (s.batched) {
      T("gemm_batched", [&] { in_->gemm_batched(s.trans_a, s.trans_b, alpha, A, B, beta, C); });
      return;
    }
    char key[160];
    std::snprintf(key, sizeof key, "gemm %s%s %lldx%lldx%lld %s->%s%s%s", s.trans_a ? "T" : "N",
                  s.trans_b ? "T" : "N", (long long)s.M, (long long)s.N, (long long)s.K,
                  std::string(dtype_name(A.dtype())).c_str(),
                  std::string(dtype_name(C.dtype())).c_str(), beta != 0 ? " beta" : "",
                  bias ? " bias" : "");
    T(key, [&] { in_->gemm(s.trans_a, s.trans_b, alpha, A, B, beta, C, bias); });
  }
  void fill_impl(Tensor& x, float v) override {
    T("fill", [&] { in_->fill(x, v); });
  }
  void cast_impl(const Tensor& s, Tensor& d) override {
    T("cast", [&] { in_->cast(s, d); });
  }
  void scale_impl(Tensor& x, float a) override {
    T("scale", [&] { in_->scale(x, a); });
  }
  void add_impl(const Tensor& a, const Tensor& b, Tensor& o) override {
    T("add", [&] { in_->add(a, b, o); });
  }
  void accumulate_impl(const Tensor& s, Tensor& d) override {
    T("accumulate", [&] { in_->accumulate(s, d); });
  }
  void activation_forward_impl(Act a, const Tensor& x, Tensor& y) override {
    T("activation_forward", [&] { in_->activation_forward(a, x, y); });
  }
  void activation_backward_impl(Act a, const Tensor& x, const Tensor& dy, Tensor& dx) override {
    T("activation_backward", [&] { in_->activation_backward(a, x, dy, dx); });
  }
  void dropout_forward_impl(const Tensor& x, Tensor& y, float p, uint64_t s, uint64_t o,
                            const Tensor* b) override {
    T("dropout_forward", [&] { in_->dropout_forward(x, y, p, s, o, b); });
  }
  void dropout_backward_impl(const Tensor& dy, Tensor& dx, float p, uint64_t s, uint64_t o,
                             const Tensor* b) override {
    T("dropout_backward", [&] { in_->dropout_backward(dy, dx, p, s, o, b); });
  }
  void bias_grad_impl(const Tensor& dy, Tensor& db, float beta) override {
    T("bias_grad", [&] { in_->bias_grad(dy, db, beta); });
  }
  void layernorm_forward_impl(const Tensor& x, const Tensor& g, const Tensor& b, float eps,
                              Tensor& y, Tensor& m, Tensor& r) override {
    T("layernorm_forward", [&] { in_->layernorm_forward(x, g, b, eps, y, m, r); });
  }
  void layernorm_backward_impl(const Tensor& dy, const Tensor& x, const Tensor& g, const Tensor& m,
                               const Tensor& r, Tensor& dx, Tensor& dg, Tensor& db) override {
    T("layernorm_backward", [&] { in_->layernorm_backward(dy, x, g, m, r, dx, dg, db); });
  }
  void softmax_xent_impl(const Tensor& l, const Tensor& lab, int32_t ig, float gs, Tensor& losses,
                         Tensor* dl) override {
    T("softmax_xent", [&] { in_->softmax_xent(l, lab, ig, gs, losses, dl); });
  }
  void mse_impl(const Tensor& p, const Tensor& t, float gs, Tensor& l, Tensor* dp) override {
    T("mse", [&] { in_->mse(p, t, gs, l, dp); });
  }
  void argmax_rows_impl(const Tensor& x, Tensor& o) override {
    T("argmax_rows", [&] { in_->argmax_rows(x, o); });
  }
  double sum_impl(const Tensor& x) override {
    return T("sum", [&] { return in_->sum(x); });
  }
  double sum_squares_impl(const Tensor& x) override {
    return T("sum_squares", [&] { return in_->sum_squares(x); });
  }
  bool unscale_and_check_impl(Tensor& x, float s) override {
    return T("unscale_and_check", [&] { return in_->unscale_and_check(x, s); });
  }
  void magnitude_stats_impl(const Tensor& x, float f, float t, int64_t& b, float& m) override {
    T("magnitude_stats", [&] { in_->magnitude_stats(x, f, t, b, m); });
  }
  void sgd_step_impl(Tensor& p, const Tensor& g, Tensor* m, const SgdHyper& h,
                     const Rounding& r) override {
    T("sgd_step", [&] { in_->sgd_step(p, g, m, h, r); });
  }
  void adamw_step_impl(Tensor& p, const Tensor& g, Tensor& m, Tensor& v, const AdamWHyper& h,
                       const Rounding& r) override {
    T("adamw_step", [&] { in_->adamw_step(p, g, m, v, h, r); });
  }
  GradCheck check_grad_impl(const Tensor& g, float inv) override {
    return T("check_grad", [&] { return in_->check_grad(g, inv); });
  }
  void adamw_step_fused_impl(Tensor& p, Tensor& g, Tensor& m, Tensor& v, const AdamWHyper& h,
                             const Rounding& r, const GradPrep& gp, Tensor* w) override {
    T("adamw_step_fused", [&] { in_->adamw_step_fused(p, g, m, v, h, r, gp, w); });
  }
  void sgd_step_fused_impl(Tensor& p, Tensor& g, Tensor* m, const SgdHyper& h, const Rounding& r,
                           const GradPrep& gp, Tensor* w) override {
    T("sgd_step_fused", [&] { in_->sgd_step_fused(p, g, m, h, r, gp, w); });
  }
  void clear_step_stats_impl(Tensor& st) override {
    T("clear_step_stats", [&] { in_->clear_step_stats(st); });
  }
  void sum_into_impl(const Tensor& x, Tensor& st, int64_t slot) override {
    T("sum_into", [&] { in_->sum_into(x, st, slot); });
  }
  void softmax_xent_deferred_impl(const Tensor& l, const Tensor& lab, int32_t ig, float gs,
                                  Tensor& losses, Tensor* dl, Tensor& st) override {
    T("softmax_xent", [&] { in_->softmax_xent_deferred(l, lab, ig, gs, losses, dl, st); });
  }
  void check_grads_impl(const std::vector<const Tensor*>& gs, float inv, Tensor& st) override {
    T("check_grads", [&] { in_->check_grads(gs, inv, st); });
  }
  void adamw_step_multi_impl(const std::vector<ParamUpdate>& ps, const AdamWHyper& h,
                             const GradPrep& gp) override {
    T("adamw_step_multi", [&] { in_->adamw_step_multi(ps, h, gp); });
  }
  void sgd_step_multi_impl(const std::vector<ParamUpdate>& ps, const SgdHyper& h,
                           const GradPrep& gp) override {
    T("sgd_step_multi", [&] { in_->sgd_step_multi(ps, h, gp); });
  }
  void random_uniform_impl(Tensor& x, float lo, float hi, uint64_t s, uint64_t o) override {
    T("random_uniform", [&] { in_->random_uniform(x, lo, hi, s, o); });
  }
  void random_normal_impl(Tensor& x, float m, float sd, uint64_t s, uint64_t o) override {
    T("random_normal", [&] { in_->random_normal(x, m, sd, s, o); });
  }
  void embedding_forward_impl(const Tensor& ids, const Tensor& w, Tensor& y, Tensor& st) override {
    T("embedding_forward", [&] { in_->embedding_forward_deferred(ids, w, y, st); });
  }
  void embedding_backward_impl(const Tensor& ids, const Tensor& dy, Tensor& dw,
                               Tensor& st) override {
    T("embedding_backward", [&] { in_->embedding_backward_deferred(ids, dy, dw, st); });
  }
  void split_heads_impl(const Tensor& x, Tensor& out, int64_t parts, int64_t heads) override {
    T("split_heads", [&] { in_->split_heads(x, out, parts, heads); });
  }
  void merge_heads_impl(const Tensor& x, Tensor& out, int64_t parts, int64_t heads) override {
    T("merge_heads", [&] { in_->merge_heads(x, out, parts, heads); });
  }
  void causal_softmax_forward_impl(const Tensor& s, Tensor& p) override {
    T("causal_softmax_forward", [&] { in_->causal_softmax_forward(s, p); });
  }
  void causal_softmax_backward_impl(const Tensor& p, const Tensor& dp, Tensor& ds) override {
    T("causal_softmax_backward", [&] { in_->causal_softmax_backward(p, dp, ds); });
  }
  // The fused Linear ops: their GEMM's flops counted as gemm's (2 M N K; the epilogue's
  // elementwise work is not counted, as the separate activation / bias_grad ops are not).
  void linear_gelu_forward_impl(const GemmDesc& s, const Tensor& x, const Tensor& w,
                                const Tensor* b, Tensor& pre, Tensor& y) override {
    gemm_flop_ += 2.0 * double(s.M) * double(s.N) * double(s.K);
    T("linear_gelu_forward", [&] { in_->linear_gelu_forward(x, w, b, pre, y); });
  }
  void linear_dgelu_backward_impl(const GemmDesc& s, const Tensor& dy, const Tensor& w,
                                  const Tensor& pre, Tensor& dpre) override {
    gemm_flop_ += 2.0 * double(s.M) * double(s.N) * double(s.K);
    T("linear_dgelu_backward", [&] { in_->linear_dgelu_backward(dy, w, pre, dpre); });
  }
  void linear_param_grad_impl(const GemmDesc& s, const Tensor& dy, const Tensor& x, float beta,
                              Tensor& dw, Tensor& db) override {
    gemm_flop_ += 2.0 * double(s.M) * double(s.N) * double(s.K);
    T("linear_param_grad", [&] { in_->linear_param_grad(dy, x, beta, dw, db); });
  }
  // The fused attention ops count the flops of the GEMMs they replace (the unfused path's full
  // [T, T] products: 2 in the forward, 4 in the backward, 2 N T T d each), so a step's GEMM flops
  // are the same whichever path a layer takes.
  void attention_forward_impl(const Tensor& q, const Tensor& k, const Tensor& v, float scale,
                              Tensor& out, Tensor& lse) override {
    gemm_flop_ += 2.0 * attention_gemm_flop(q);
    T("attention_forward", [&] { in_->attention_forward(q, k, v, scale, out, lse); });
  }
  void attention_backward_impl(const Tensor& q, const Tensor& k, const Tensor& v,
                               const Tensor& out, const Tensor& dout, const Tensor& lse,
                               float scale, Tensor& dq, Tensor& dk, Tensor& dv) override {
    gemm_flop_ += 4.0 * attention_gemm_flop(q);
    T("attention_backward",
      [&] { in_->attention_backward(q, k, v, out, dout, lse, scale, dq, dk, dv); });
  }
  void conv2d_forward_impl(const Tensor& x, const Tensor& w, const Tensor* b, Tensor& y,
                           const Conv2dDesc& d) override {
    T("conv2d_forward", [&] { in_->conv2d_forward(x, w, b, y, d); });
  }
  void conv2d_backward_data_impl(const Tensor& dy, const Tensor& w, Tensor& dx,
                                 const Conv2dDesc& d) override {
    T("conv2d_backward_data", [&] { in_->conv2d_backward_data(dy, w, dx, d); });
  }
  void conv2d_backward_weights_impl(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor* db,
                                    const Conv2dDesc& d) override {
    T("conv2d_backward_weights", [&] { in_->conv2d_backward_weights(x, dy, dw, db, d); });
  }
  void pool2d_forward_impl(bool max, const Tensor& x, Tensor& y, Tensor* arg,
                           const Pool2dDesc& d) override {
    T("pool2d_forward", [&] { in_->pool2d_forward(max, x, y, arg, d); });
  }
  void pool2d_backward_impl(const Tensor& dy, const Tensor* arg, Tensor& dx,
                            const Pool2dDesc& d) override {
    T("pool2d_backward", [&] { in_->pool2d_backward(dy, arg, dx, d); });
  }
  void group_norm_forward_impl(const Tensor& x, const Tensor& g, const Tensor& b, int64_t groups,
                               float eps, Tensor& y, Tensor& m, Tensor& r) override {
    T("group_norm_forward", [&] { in_->group_norm_forward(x, g, b, groups, eps, y, m, r); });
  }
  void group_norm_backward_impl(const Tensor& dy, const Tensor& x, const Tensor& g, int64_t groups,
                                const Tensor& m, const Tensor& r, Tensor& dx, Tensor& dg,
                                Tensor& db) override {
    T("group_norm_backward", [&] { in_->group_norm_backward(dy, x, g, groups, m, r, dx, dg, db); });
  }
  void add_layernorm_forward_impl(const Tensor& a, const Tensor& b, const Tensor& g,
                                  const Tensor& be, float eps, Tensor& s, Tensor& y, Tensor& m,
                                  Tensor& r) override {
    T("add_layernorm_forward", [&] { in_->add_layernorm_forward(a, b, g, be, eps, s, y, m, r); });
  }

 private:
  // One [N, T, T] x d product: 2 N T T d.
  static double attention_gemm_flop(const Tensor& q) {
    const double N = double(q.shape()[0]), T = double(q.shape()[1]), d = double(q.shape()[2]);
    return 2.0 * N * T * T * d;
  }
  std::unique_ptr<Backend> in_;
  std::map<std::string, Stat> stats_;
  double gemm_flop_ = 0;
};

}  // namespace mp::bench
