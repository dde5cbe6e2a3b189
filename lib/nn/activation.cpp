#include "nn/activation.h"

namespace mp {

Tensor& Activation::fused_output(Backend& be, const Tensor& pre) {
  ensure_buffer(be, y_, pre.shape(), dtype());
  fused_x_ = pre.raw();
  return y_;
}

const Tensor& Activation::forward(Context& ctx, const Tensor& x) {
  x_ = as_dtype(ctx, x, xcast_, RoundingPoint::InputCast);
  const bool fused = fused_x_ != nullptr && fused_x_ == x_.raw() && y_.shape() == x_.shape();
  fused_x_ = nullptr;
  if (fused) return y_;  // the Linear before computed it (never on a probe pass)
  ensure_buffer(ctx.be, y_, x_.shape(), dtype());
  ctx.be.activation_forward(act_, x_, y_);
  observe(ctx, RoundingPoint::Output, y_,
          [&](Tensor& exact) { ctx.be.activation_forward(act_, x_, exact); });
  return y_;
}

const Tensor& Activation::backward(Context& ctx, const Tensor& dy_in) {
  const bool fused = fused_dx_ != nullptr && fused_dx_ == dy_in.raw();
  fused_dx_ = nullptr;
  if (fused) return dy_in;  // already dpre (the Linear after: never on a probe pass)
  if (!need_dx_) return dx_;
  const Tensor& dy = as_dtype(ctx, dy_in, dycast_, RoundingPoint::GradCast);
  ensure_buffer(ctx.be, dx_, x_.shape(), dtype());
  ctx.be.activation_backward(act_, x_, dy, dx_);
  observe(ctx, RoundingPoint::InputGrad, dx_,
          [&](Tensor& exact) { ctx.be.activation_backward(act_, x_, dy, exact); });
  return dx_;
}

}  // namespace mp
