#include "nn/activation.h"

namespace mp {

const Tensor& Activation::forward(Context& ctx, const Tensor& x) {
  x_ = as_dtype(ctx, x, xcast_, RoundingPoint::InputCast);
  ensure_buffer(ctx.be, y_, x_.shape(), dtype());
  ctx.be.activation_forward(act_, x_, y_);
  observe(ctx, RoundingPoint::Output, y_,
          [&](Tensor& exact) { ctx.be.activation_forward(act_, x_, exact); });
  return y_;
}

const Tensor& Activation::backward(Context& ctx, const Tensor& dy_in) {
  if (!need_dx_) return dx_;
  const Tensor& dy = as_dtype(ctx, dy_in, dycast_, RoundingPoint::GradCast);
  ensure_buffer(ctx.be, dx_, x_.shape(), dtype());
  ctx.be.activation_backward(act_, x_, dy, dx_);
  observe(ctx, RoundingPoint::InputGrad, dx_,
          [&](Tensor& exact) { ctx.be.activation_backward(act_, x_, dy, exact); });
  return dx_;
}

}  // namespace mp
