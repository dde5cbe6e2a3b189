// flatten.h: collapses every per-sample dimension into one (a view, no copy).
#pragma once
#include "nn/layer.h"

namespace mp {

class Flatten : public Layer {
 public:
  Shape infer(const Shape& in) override {
    in_shape_ = in;
    return out_shape_ = Shape{shape_numel(in)};
  }
  const Tensor& forward(Context&, const Tensor& x) override {
    y_ = x.reshape({x.dim(0), shape_numel(in_shape_)});
    return y_;
  }
  const Tensor& backward(Context&, const Tensor& dy) override {
    dx_ = dy.reshape(batch_shape(dy.dim(0), in_shape_));
    return dx_;
  }

 private:
  Shape in_shape_;
  Tensor y_, dx_;
};

}  // namespace mp
