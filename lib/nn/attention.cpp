#include "nn/attention.h"

#include <cmath>

#include "kernels/attention.h"

namespace mp {

AttentionPath parse_attention_path(const std::string& s) {
  if (s == "auto") return AttentionPath::Auto;
  if (s == "fused") return AttentionPath::Fused;
  MP_CHECK(s == "unfused", "causal_self_attention: attention must be auto, fused or unfused, got " +
                               s + " (the catalog validates it)");
  return AttentionPath::Unfused;
}

CausalSelfAttention::CausalSelfAttention(int64_t heads, double dropout, bool bias,
                                         uint64_t dropout_stream, AttentionPath path)
    : heads_(heads),
      p_(static_cast<float>(dropout)),
      bias_(bias),
      stream_(dropout_stream),
      qkv_(0, bias, "kaiming_uniform", 0.02),
      proj_(0, bias, "kaiming_uniform", 0.02),
      path_(path) {}

bool fused_attention_supported(Device device, int64_t d) {
  return device == Device::CUDA ? kernels::cuda_flash_head_dim(d) : d >= 1;
}

bool CausalSelfAttention::uses_fused(Device device, bool supports_d, bool training) const {
  if (path_ == AttentionPath::Unfused || (training && p_ > 0.0f)) return false;
  if (!supports_d) return false;
  // auto: the CPU's fused reference is slower than its oneDNN GEMMs (README, bench_train_spec).
  return path_ == AttentionPath::Fused || device == Device::CUDA;
}

void CausalSelfAttention::plan_estimate(Device device, bool supports_d) {
  est_train_fused_ = uses_fused(device, supports_d, true);
  est_eval_fused_ = uses_fused(device, supports_d, false);
}

void CausalSelfAttention::plan_estimate(Device device) {
  plan_estimate(device, fused_attention_supported(device, d_));
}

Shape CausalSelfAttention::infer(const Shape& in) {
  if (in.size() != 2)
    throw ConfigError(where_ + ": causal_self_attention: expected a per-sample input [T, C] "
                      "(a sequence of C-wide vectors), got " + shape_str(in) +
                      "; put it after an embedding or a layer that keeps [T, C]");
  // Containers infer their children again after the parameters exist: keep the projections then.
  if (C_ != 0) {
    MP_CHECK(in[1] == C_, where_ + ": causal_self_attention: input width changed from " +
                              std::to_string(C_) + " to " + std::to_string(in[1]));
    return out_shape_ = in;
  }
  if (heads_ < 1 || in[1] % heads_ != 0)
    throw ConfigError(where_ + ": causal_self_attention: heads " + std::to_string(heads_) +
                      " must divide the input width " + std::to_string(in[1]) +
                      " (each head gets C / heads features); choose a divisor of " +
                      std::to_string(in[1]));
  C_ = in[1];
  d_ = C_ / heads_;
  qkv_ = Linear(3 * C_, bias_, "kaiming_uniform", 0.02);
  proj_ = Linear(C_, bias_, "kaiming_uniform", 0.02);
  qkv_.configure(name() + ".qkv", "linear", dtype(), where_);
  proj_.configure(name() + ".proj", "linear", dtype(), where_);
  qkv_.set_need_input_grad(need_dx_);
  qkv_.infer(in);
  proj_.infer(in);
  return out_shape_ = in;
}

void CausalSelfAttention::create_params(Backend& be, bool master_fp32, uint64_t seed,
                                        uint64_t qkv_stream, uint64_t proj_stream) {
  qkv_.create_params(be, master_fp32, seed, qkv_stream);
  proj_.create_params(be, master_fp32, seed, proj_stream);
  plan_estimate(be.device(), be.fused_attention_supports(d_));
}

void CausalSelfAttention::set_need_input_grad(bool need) {
  need_dx_ = need;
  qkv_.set_need_input_grad(need);
}

const Tensor& CausalSelfAttention::forward(Context& ctx, const Tensor& x) {
  MP_CHECK(x.ndim() == 3 && x.dim(2) == C_,
           name() + ": causal_self_attention expects [B, T, " + std::to_string(C_) + "], got " +
               x.describe());
  Backend& be = ctx.be;
  const DType D = dtype();
  B_ = x.dim(0);
  T_ = x.dim(1);
  const int64_t BH = B_ * heads_;
  const Tensor& qkv = qkv_.forward(ctx, x);
  ensure_buffer(be, qkvh_, {3 * BH, T_, d_}, D);
  be.split_heads(qkv, qkvh_, 3, heads_);
  const Tensor q = qkvh_.slice_rows(0, BH), k = qkvh_.slice_rows(BH, 2 * BH),
               v = qkvh_.slice_rows(2 * BH, 3 * BH);
  // The scale inside the GEMM: its fp32 accumulator is scaled before the one rounding to D.
  const float alpha = 1.0f / std::sqrt(static_cast<float>(d_));
  drop_active_ = ctx.training && p_ > 0.0f;
  fused_ = uses_fused(be, ctx.training);
  ensure_buffer(be, o_, {BH, T_, d_}, D);
  if (fused_) {
    ensure_buffer(be, lse_, {BH, T_}, DType::F32);
    be.attention_forward(q, k, v, alpha, o_, lse_);
  } else {
    unfused_forward(ctx, q, k, v, alpha);
  }
  ensure_buffer(be, merged_, {B_, T_, C_}, D);
  be.merge_heads(o_, merged_, 1, heads_);
  return proj_.forward(ctx, merged_);
}

void CausalSelfAttention::unfused_forward(Context& ctx, const Tensor& q, const Tensor& k,
                                          const Tensor& v, float alpha) {
  Backend& be = ctx.be;
  const DType D = dtype();
  const int64_t BH = B_ * heads_;
  ensure_buffer(be, s_, {BH, T_, T_}, D);
  be.gemm_batched(false, true, alpha, q, k, 0.0f, s_);
  ensure_buffer(be, p_prob_, {BH, T_, T_}, D);
  be.causal_softmax_forward(s_, p_prob_);
  const Tensor* pv = &p_prob_;
  if (drop_active_) {
    ensure_buffer(be, p_drop_, {BH, T_, T_}, D);
    const DropoutStream r = dropout_stream(ctx, stream_);
    be.dropout_forward(p_prob_, p_drop_, p_, ctx.seed, r.offset, r.base);
    pv = &p_drop_;
  }
  be.gemm_batched(false, false, 1.0f, *pv, v, 0.0f, o_);
}

const Tensor& CausalSelfAttention::backward(Context& ctx, const Tensor& dy) {
  Backend& be = ctx.be;
  const DType D = dtype();
  const int64_t BH = B_ * heads_;
  const Tensor& dmerged = proj_.backward(ctx, dy);
  ensure_buffer(be, do_, {BH, T_, d_}, D);
  be.split_heads(dmerged, do_, 1, heads_);
  const Tensor q = qkvh_.slice_rows(0, BH), k = qkvh_.slice_rows(BH, 2 * BH),
               v = qkvh_.slice_rows(2 * BH, 3 * BH);
  ensure_buffer(be, dqkvh_, {3 * BH, T_, d_}, D);
  Tensor dq = dqkvh_.slice_rows(0, BH), dk = dqkvh_.slice_rows(BH, 2 * BH),
         dv = dqkvh_.slice_rows(2 * BH, 3 * BH);
  const float alpha = 1.0f / std::sqrt(static_cast<float>(d_));
  if (fused_) be.attention_backward(q, k, v, o_, do_, lse_, alpha, dq, dk, dv);
  else unfused_backward(ctx, q, k, v, alpha, dq, dk, dv);
  ensure_buffer(be, dqkv_, {B_, T_, 3 * C_}, D);
  be.merge_heads(dqkvh_, dqkv_, 3, heads_);
  return qkv_.backward(ctx, dqkv_);
}

void CausalSelfAttention::unfused_backward(Context& ctx, const Tensor& q, const Tensor& k,
                                           const Tensor& v, float alpha, Tensor& dq, Tensor& dk,
                                           Tensor& dv) {
  Backend& be = ctx.be;
  const DType D = dtype();
  const int64_t BH = B_ * heads_;
  const Tensor& pv = drop_active_ ? p_drop_ : p_prob_;
  be.gemm_batched(true, false, 1.0f, pv, do_, 0.0f, dv);  // dV = P'^T dO
  ensure_buffer(be, dp_, {BH, T_, T_}, D);
  be.gemm_batched(false, true, 1.0f, do_, v, 0.0f, dp_);  // dP' = dO V^T
  if (drop_active_) {
    const DropoutStream r = dropout_stream(ctx, stream_);
    be.dropout_backward(dp_, dp_, p_, ctx.seed, r.offset, r.base);
  }
  be.causal_softmax_backward(p_prob_, dp_, s_);  // dS, into the scores' buffer
  be.gemm_batched(false, false, alpha, s_, k, 0.0f, dq);  // dQ = alpha dS K
  be.gemm_batched(true, false, alpha, s_, q, 0.0f, dk);   // dK = alpha dS^T Q
}

int64_t CausalSelfAttention::activation_elems() const {
  if (out_shape_.size() != 2) return 0;
  const int64_t T = out_shape_[0];
  const int64_t tt = est_train_fused_ ? 0 : (p_ > 0.0f ? 4 : 3) * heads_ * T * T;
  return (18 * T * C_ + tt + 1) / 2;
}

int64_t CausalSelfAttention::saved_bytes_per_sample() const {
  if (out_shape_.size() != 2 || !(est_train_fused_ || est_eval_fused_)) return 0;
  return heads_ * out_shape_[0] * static_cast<int64_t>(sizeof(float));  // lse_: fp32 [H, T]
}

void CausalSelfAttention::collect_params(ParamList& out) {
  qkv_.collect_params(out);
  proj_.collect_params(out);
}

}  // namespace mp
