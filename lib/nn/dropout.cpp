#include "nn/dropout.h"

namespace mp {

const Tensor& Dropout::forward(Context& ctx, const Tensor& x) {
  active_ = ctx.training && p_ > 0.0f;
  const Tensor& xd = as_dtype(ctx, x, xcast_, RoundingPoint::InputCast);
  if (!active_) return xd;
  ensure_buffer(ctx.be, y_, xd.shape(), dtype());
  const DropoutStream r = dropout_stream(ctx, stream_);
  ctx.be.dropout_forward(xd, y_, p_, ctx.seed, r.offset, r.base);
  observe(ctx, RoundingPoint::Output, y_, [&](Tensor& exact) {
    ctx.be.dropout_forward(xd, exact, p_, ctx.seed, r.offset, r.base);
  });
  return y_;
}

const Tensor& Dropout::backward(Context& ctx, const Tensor& dy_in) {
  const Tensor& dy = as_dtype(ctx, dy_in, dycast_, RoundingPoint::GradCast);
  if (!active_ || !need_dx_) return dy;
  ensure_buffer(ctx.be, dx_, dy.shape(), dtype());
  const DropoutStream r = dropout_stream(ctx, stream_);
  ctx.be.dropout_backward(dy, dx_, p_, ctx.seed, r.offset, r.base);
  observe(ctx, RoundingPoint::InputGrad, dx_, [&](Tensor& exact) {
    ctx.be.dropout_backward(dy, exact, p_, ctx.seed, r.offset, r.base);
  });
  return dx_;
}

}  // namespace mp
