// linear.h: fully connected layer y = x W^T + b over the last dimension.
// W [out, in] and b [out] have fp32 masters; the GEMMs read the working copies in the layer's
// dtype, accumulate in fp32, add b in fp32 and round y once. dW and db are written into the fp32
// gradient buffers with beta = 1 (accumulation across micro-batches), in one op
// (Backend::linear_param_grad: the CUDA engine's BGRADB epilogue) when both train.
// Next to a gelu(tanh) layer of its dtype (linear_fusion.h) it does that layer's work in its own
// GEMMs: before the gelu, forward computes pre and gelu(pre) together (linear_gelu_forward);
// after it, backward computes the gelu's input gradient with its own (linear_dgelu_backward).
// The CPU engine gives the same bits either way; probe passes (ctx.probe) never fuse, so each
// rounding point is observed as computed unfused.
#pragma once
#include "nn/layer.h"

namespace mp {

class Activation;

class Linear : public Layer {
 public:
  Linear(int64_t out, bool bias, std::string init, double init_std)
      : out_(out), has_bias_(bias), init_(std::move(init)), init_std_(init_std) {}
  Shape infer(const Shape& in) override;
  // Allocates and initialises W (and b) once infer() has fixed the input width.
  void create_params(Backend& be, bool master_fp32, uint64_t seed, uint64_t offset);
  const Tensor& forward(Context& ctx, const Tensor& x) override;
  const Tensor& backward(Context& ctx, const Tensor& dy) override;
  void collect_params(ParamList& out) override;
  // Use `shared` ([out, in], e.g. an embedding's table: lm_head with tie) as W instead of a weight
  // of its own: call before create_params. The layer then reads shared.working, adds its dW into
  // shared.grad, and leaves the parameter to its owner's collect_params (listed once).
  void tie_weight(Parameter& shared) { tied_ = &shared; }
  bool tied() const { return tied_ != nullptr; }
  // Fusion with the gelu(tanh) layer right after (fuse_output_gelu) or right before
  // (fuse_input_gelu) this one in a sequence, of this layer's dtype (linear_fusion.h).
  void fuse_output_gelu(Activation& gelu) { gelu_out_ = &gelu; }
  void fuse_input_gelu(Activation& gelu) { gelu_in_ = &gelu; }

 private:
  Parameter& w() { return tied_ ? *tied_ : w_; }

  int64_t in_ = 0, out_;
  bool has_bias_;
  std::string init_;
  double init_std_;
  Parameter w_, b_;
  Parameter* tied_ = nullptr;
  Activation* gelu_out_ = nullptr;  // the gelu after: forward computes its output too
  Activation* gelu_in_ = nullptr;   // the gelu before: backward computes its input gradient
  Tensor x_;             // the input seen by forward, in this layer's dtype
  Tensor xcast_, dycast_, y_, dx_;
};

}  // namespace mp
