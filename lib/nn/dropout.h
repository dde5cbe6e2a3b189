// dropout.h: inverted dropout. The keep mask is a pure function of Philox(seed, offset, i), so
// backward regenerates it instead of storing it, and CPU and GPU drop the same elements.
#pragma once
#include "nn/layer.h"

namespace mp {

class Dropout : public Layer {
 public:
  Dropout(double p, uint64_t stream) : p_(static_cast<float>(p)), stream_(stream) {}
  Shape infer(const Shape& in) override { return out_shape_ = in; }
  const Tensor& forward(Context& ctx, const Tensor& x) override;
  const Tensor& backward(Context& ctx, const Tensor& dy) override;

 private:
  float p_;
  uint64_t stream_;  // distinct per dropout layer
  bool active_ = false;
  Tensor xcast_, dycast_, y_, dx_;
};

}  // namespace mp
