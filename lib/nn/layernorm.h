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

 private:
  float eps_;
  bool affine_;
  int64_t cols_ = 0;
  Parameter gamma_, beta_;
  Tensor ones_, zeros_;                   // gamma/beta stand-ins when affine is false
  Tensor x_, xcast_, dycast_, y_, dx_, mean_, rstd_;
};

}  // namespace mp
