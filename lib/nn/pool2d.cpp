#include "nn/pool2d.h"

namespace mp {

Shape Pool2d::infer(const Shape& in) {
  in_ = image_shape(in, where_, type());
  if (kind_ == PoolKind::GlobalAvg) {
    win_ = Window2d{in_.h, in_.w, 1, 1, 0, 0, 1, 1};
    return out_shape_ = Shape{in_.c};
  }
  const int64_t stride = stride_ > 0 ? stride_ : kernel_;  // 0: the kernel (non-overlapping)
  // PyTorch's rule: every window then holds at least one real element.
  if (2 * padding_ > kernel_)
    throw ConfigError(where_ + ": " + type() + ": padding " + std::to_string(padding_) +
                      " must be at most half the kernel " + std::to_string(kernel_));
  win_ = Window2d{kernel_, kernel_, stride, stride, padding_, padding_, 1, 1};
  const Pool2dDesc d = desc(1);
  if (d.oh < 1 || d.ow < 1)
    throw ConfigError(where_ + ": " + type() + ": kernel " + std::to_string(kernel_) +
                      " does not fit the input " + shape_str(in) + " with padding " +
                      std::to_string(padding_));
  return out_shape_ = Shape{in_.c, d.oh, d.ow};
}

const Tensor& Pool2d::forward(Context& ctx, const Tensor& x) {
  x_ = as_dtype(ctx, x, xcast_, RoundingPoint::InputCast);
  const Pool2dDesc d = desc(x_.dim(0));
  ensure_buffer(ctx.be, y_, batch_shape(d.n, out_shape_), dtype());
  const bool max = kind_ == PoolKind::Max;
  if (max) ensure_buffer(ctx.be, argmax_, y_.shape(), DType::I32);
  ctx.be.pool2d_forward(max, x_, y_, max ? &argmax_ : nullptr, d);
  observe(ctx, RoundingPoint::Output, y_, [&](Tensor& exact) {
    Tensor arg = max ? ctx.be.empty(y_.shape(), DType::I32) : Tensor();
    ctx.be.pool2d_forward(max, x_, exact, max ? &arg : nullptr, d);
  });
  return y_;
}

const Tensor& Pool2d::backward(Context& ctx, const Tensor& dy_in) {
  if (!need_dx_) return dx_;
  const Tensor& dy = as_dtype(ctx, dy_in, dycast_, RoundingPoint::GradCast);
  const Pool2dDesc d = desc(x_.dim(0));
  ensure_buffer(ctx.be, dx_, x_.shape(), dtype());
  const Tensor* arg = kind_ == PoolKind::Max ? &argmax_ : nullptr;
  ctx.be.pool2d_backward(dy, arg, dx_, d);
  observe(ctx, RoundingPoint::InputGrad, dx_,
          [&](Tensor& exact) { ctx.be.pool2d_backward(dy, arg, exact, d); });
  return dx_;
}

}  // namespace mp
