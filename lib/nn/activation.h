// activation.h: elementwise activation layers (relu, gelu, tanh, sigmoid, silu). The math is in
// kernels/activations.h via Backend::activation_forward/backward: fp32 compute, one rounding.
#pragma once
#include "nn/layer.h"

namespace mp {

class Activation : public Layer {
 public:
  explicit Activation(Act act) : act_(act) {}
  Shape infer(const Shape& in) override { return out_shape_ = in; }
  const Tensor& forward(Context& ctx, const Tensor& x) override;
  const Tensor& backward(Context& ctx, const Tensor& dy) override;

 private:
  Act act_;
  Tensor x_, xcast_, dycast_, y_, dx_;
};

}  // namespace mp
