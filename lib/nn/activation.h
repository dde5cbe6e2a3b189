// activation.h: elementwise activation layers (relu, gelu, tanh, sigmoid, silu). The math is in
// kernels/activations.h via Backend::activation_forward/backward: fp32 compute, one rounding.
// A gelu(tanh) next to a Linear of its dtype may have its work done by that Linear
// (linear_fusion.h): the Linear before it computes its output in the same GEMM
// (fused_output), the Linear after it its input gradient (fused_input_grad); the layer then
// only hands on what was computed. Checkpoints, summaries and probes do not see the difference.
#pragma once
#include "nn/layer.h"

namespace mp {

class Activation : public Layer {
 public:
  explicit Activation(Act act) : act_(act) {}
  Shape infer(const Shape& in) override { return out_shape_ = in; }
  const Tensor& forward(Context& ctx, const Tensor& x) override;
  const Tensor& backward(Context& ctx, const Tensor& dy) override;

  Act act() const { return act_; }
  // For the Linear before this layer: the buffer for gelu(pre), pre being that Linear's output
  // (this layer's next input); this layer's next forward(pre) then returns it as computed.
  Tensor& fused_output(Backend& be, const Tensor& pre);
  // For the Linear after this layer: its input (this layer's output) gradient went through
  // gelu' already into dpre; this layer's next backward(dpre) returns it as is.
  void fused_input_grad(const Tensor& dpre) { fused_dx_ = dpre.raw(); }
  // The input of the last forward (a fused Linear after this layer reads it as pre).
  const Tensor& input() const { return x_; }

 private:
  Act act_;
  Tensor x_, xcast_, dycast_, y_, dx_;
  const void* fused_x_ = nullptr;   // set by fused_output: the pre whose output y_ holds
  const void* fused_dx_ = nullptr;  // set by fused_input_grad: the dpre backward hands on
};

}  // namespace mp
