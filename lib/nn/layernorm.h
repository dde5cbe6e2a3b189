// layernorm.h: layer normalisation over the last dimension. Statistics (mean, 1/std) are fp32
// whatever the policy; gamma/beta have fp32 masters and fp32 gradients, no weight decay.
#pragma once
#include "nn/layer.h"

namespace mp {

class LayerNorm : public Layer {
 public:
  LayerNorm(double eps, bool affine) : eps_(static_cast<float>(eps)), affine_(affine) {}
  Shape infer(const Shape& in) override;
  void create_params(Backend& be, bool master_fp32);
  const Tensor& forward(Context& ctx, const Tensor& x) override;
  const Tensor& backward(Context& ctx, const Tensor& dy) override;
  void collect_params(ParamList& out) override;

  // The residual add whose output this layer reads next, fused with this layer's forward
  // (Backend::add_layernorm_forward): sum_out = a + b, rounded to this layer's dtype, and this
  // layer's output of it, computed now; the forward() that follows with sum_out as its input then
  // only returns it. Bits as add() then forward(). False (nothing computed) unless a, b and
  // sum_out are all of this layer's dtype: the caller then adds on its own.
  bool forward_with_add(Context& ctx, const Tensor& a, const Tensor& b, Tensor& sum_out);

 private:
  void prepare(Context& ctx, const Shape& in);  // the output and statistics buffers for `in`

  float eps_;
  bool affine_;
  int64_t cols_ = 0;
  Parameter gamma_, beta_;
  Tensor ones_, zeros_;                   // gamma/beta stand-ins when affine is false
  Tensor x_, xcast_, dycast_, y_, dx_, mean_, rstd_;
  const void* fused_input_ = nullptr;  // forward_with_add's sum_out, until forward() consumes it
};

}  // namespace mp
