// attention.h: causal multi-head self-attention over [B, T, C] (docs/ARCHITECTURE.md, layer
// table). The QKV and output projections are Linear sub-layers (parameters <name>.qkv.*,
// <name>.proj.*); in between, per head (d = C / heads):
//   S = alpha Q K^T        gemm_batched, alpha = 1/sqrt(d) inside the GEMM (fp32 accumulation, so
//                          fp16 scores never hold the unscaled product), S rounded once to D
//   P = causal_softmax(S)  fp32 max/sum over the visible keys, P rounded once to D, masked P = 0
//   P' = dropout(P)        optional, training only, Philox stream of this layer
//   O = P' V               gemm_batched, rounded to D; heads merged back to [B, T, C]
// Backward: dP' = dO V^T, dV = P'^T dO, dP = dropout'(dP'), dS = P (dP - <P, dP>) (fp32 math),
// dQ = alpha dS K, dK = alpha dS^T Q, then the projections. Every buffer is kept across steps.
// The fused path (spec `attention`): Backend::attention_forward / _backward compute the same
// attention per head without the [B * H, T, T] buffers (fp32 S and P, never rounded to D; fp32
// log-sum-exp per row kept for the backward). `auto` takes it on CUDA when the engine has kernels
// for d; `fused` wherever the engine supports d (the CPU: any d); `unfused` never. Dropout on the
// probabilities is not in the fused ops: a training step with dropout > 0 takes the unfused path
// (the same Philox stream as always), whatever the setting.
#pragma once
#include "nn/layer.h"
#include "nn/linear.h"

namespace mp {

// The spec's `attention` choice.
enum class AttentionPath { Auto, Fused, Unfused };
// Whether the engine on `device` has fused attention kernels for head dim d, with no engine at
// hand: every d on the CPU (Backend's default), kernels::cuda_flash_head_dim on CUDA.
bool fused_attention_supported(Device device, int64_t d);
// "auto" / "fused" / "unfused" (the catalog's choices; anything else is an InternalError).
AttentionPath parse_attention_path(const std::string& s);

class CausalSelfAttention : public Layer {
 public:
  CausalSelfAttention(int64_t heads, double dropout, bool bias, uint64_t dropout_stream,
                      AttentionPath path = AttentionPath::Auto);
  // Whether a step (training or not) on an engine on `device` that has (supports_d) or lacks
  // fused kernels for this layer's head dim takes the fused ops; and on `be`.
  bool uses_fused(Device device, bool supports_d, bool training) const;
  bool uses_fused(const Backend& be, bool training) const {
    return uses_fused(be.device(), be.fused_attention_supports(d_), training);
  }
  // The engine activation_elems and saved_bytes_per_sample count for: create_params plans for
  // its backend; the --dry-run estimate (which builds on the CPU) re-plans for the run's device
  // (fused_attention_supported). Planning before infer() has no effect.
  void plan_estimate(Device device, bool supports_d);
  void plan_estimate(Device device);  // supports_d: fused_attention_supported(device, d)
  // Per-sample input [T, C] with C divisible by heads; configures the projections too.
  Shape infer(const Shape& in) override;
  void create_params(Backend& be, bool master_fp32, uint64_t seed, uint64_t qkv_stream,
                     uint64_t proj_stream);
  const Tensor& forward(Context& ctx, const Tensor& x) override;
  const Tensor& backward(Context& ctx, const Tensor& dy) override;
  void collect_params(ParamList& out) override;
  void set_need_input_grad(bool need) override;
  // Half of the buffers one step holds per sample (the estimate doubles it) on the planned
  // engine: about 18 T x C (qkv, per-head Q/K/V, their gradients, O, merged, projections'
  // outputs and dx), and when training steps run unfused 3-4 H x T x T (scores/dS, P, dropout's
  // P', dP). The fused path's fp32 log-sum-exp (H x T) is in saved_bytes_per_sample, counted
  // when training or evaluation steps run fused (buffers are kept across steps, so a run whose
  // training is unfused (dropout) and evaluation fused holds both).
  int64_t activation_elems() const override;
  int64_t saved_bytes_per_sample() const override;

 private:
  // The [B * H, T, T] path: scores, softmax, dropout, P V into o_; and its backward.
  void unfused_forward(Context& ctx, const Tensor& q, const Tensor& k, const Tensor& v,
                       float alpha);
  void unfused_backward(Context& ctx, const Tensor& q, const Tensor& k, const Tensor& v,
                        float alpha, Tensor& dq, Tensor& dk, Tensor& dv);
  int64_t heads_, C_ = 0, d_ = 0;
  float p_;
  bool bias_;
  uint64_t stream_;
  Linear qkv_, proj_;
  AttentionPath path_;
  bool drop_active_ = false;
  bool fused_ = false;  // the path the last forward took (its backward takes the same)
  // The planned engine's paths (plan_estimate): training steps, evaluation steps.
  bool est_train_fused_ = false, est_eval_fused_ = false;
  int64_t B_ = 0, T_ = 0;
  Tensor qkvh_;   // Q, K, V per head: [3 * B * H, T, d]
  Tensor s_;      // scores, then (backward) their gradient dS: [B * H, T, T]
  Tensor p_prob_, p_drop_;  // probabilities, and after dropout
  Tensor o_, merged_;       // P' V per head, and merged to [B, T, C]
  Tensor do_, dp_, dqkvh_, dqkv_;
  Tensor lse_;  // fused path: fp32 log-sum-exp per query row [B * H, T]
};

}  // namespace mp
