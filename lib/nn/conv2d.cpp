#include "nn/conv2d.h"

#include "nn/init.h"

namespace mp {

Shape Conv2d::infer(const Shape& in) {
  in_ = image_shape(in, where_, "conv2d");
  if (in_.c % o_.groups != 0 || o_.out % o_.groups != 0)
    throw ConfigError(where_ + ": conv2d: groups " + std::to_string(o_.groups) +
                      " must divide both the input channels (" + std::to_string(in_.c) +
                      ") and out (" + std::to_string(o_.out) + ")");
  win_ = Window2d{o_.kernel, o_.kernel, o_.stride, o_.stride, o_.padding, o_.padding,
                  o_.dilation, o_.dilation};
  const Conv2dDesc d = desc(1);
  if (d.oh < 1 || d.ow < 1)
    throw ConfigError(where_ + ": conv2d: kernel " + std::to_string(o_.kernel) + " (dilation " +
                      std::to_string(o_.dilation) + ") does not fit the input " + shape_str(in) +
                      " with padding " + std::to_string(o_.padding) +
                      "; use a smaller kernel or more padding");
  return out_shape_ = Shape{o_.out, d.oh, d.ow};
}

Conv2dDesc Conv2d::desc(int64_t batch) const {
  return make_conv2d_desc(batch, in_.c, in_.h, in_.w, o_.out, o_.groups, win_);
}

void Conv2d::create_params(Backend& be, bool master_fp32, uint64_t seed, uint64_t offset) {
  const int64_t cg = in_.c / o_.groups, taps = o_.kernel * o_.kernel;
  const Shape ws{o_.out, cg, o_.kernel, o_.kernel};
  w_ = make_parameter(be, name() + ".weight", ws, dtype(), master_fp32, true);
  Tensor tmp = be.empty(ws, DType::F32);
  // Fans as PyTorch counts them for a convolution: per output, the inputs it reads.
  init_tensor(be, tmp, o_.init, o_.init_std, cg * taps, (o_.out / o_.groups) * taps, seed, offset);
  set_parameter_values(be, w_, tmp);
  if (o_.bias) {
    b_ = make_parameter(be, name() + ".bias", Shape{o_.out}, dtype(), master_fp32, false);
    Tensor z = be.empty(Shape{o_.out}, DType::F32);
    be.fill(z, 0.0f);
    set_parameter_values(be, b_, z);
  }
}

const Tensor& Conv2d::forward(Context& ctx, const Tensor& x) {
  x_ = as_dtype(ctx, x, xcast_, RoundingPoint::InputCast);
  const Conv2dDesc d = desc(x_.dim(0));
  ensure_buffer(ctx.be, y_, batch_shape(d.n, out_shape_), dtype());
  const Tensor* bias = o_.bias ? &b_.working : nullptr;
  ctx.be.conv2d_forward(x_, w_.working, bias, y_, d);
  observe(ctx, RoundingPoint::Output, y_, [&](Tensor& exact) {
    Tensor b32;  // fp32 output: the bias must be fp32 too (the working bias, exactly)
    if (bias) {
      b32 = ctx.be.empty(bias->shape(), DType::F32);
      ctx.be.cast(*bias, b32);
    }
    ctx.be.conv2d_forward(x_, w_.working, bias ? &b32 : nullptr, exact, d);
  });
  return y_;
}

const Tensor& Conv2d::backward(Context& ctx, const Tensor& dy_in) {
  const Tensor& dy = as_dtype(ctx, dy_in, dycast_, RoundingPoint::GradCast);
  const Conv2dDesc d = desc(x_.dim(0));
  // Frozen parameters (optimizer.freeze) have no gradient buffer: a frozen weight with a trainable
  // bias accumulates its part into a scratch buffer that is thrown away.
  Tensor* db = o_.bias && b_.trainable() ? &b_.grad : nullptr;
  if (w_.trainable()) {
    ctx.be.conv2d_backward_weights(x_, dy, w_.grad, db, d);
  } else if (db) {
    ensure_buffer(ctx.be, dw_scratch_, w_.master.shape(), DType::F32);
    ctx.be.fill(dw_scratch_, 0.0f);
    ctx.be.conv2d_backward_weights(x_, dy, dw_scratch_, db, d);
  }
  if (!need_dx_) return dx_;
  ensure_buffer(ctx.be, dx_, x_.shape(), dtype());
  ctx.be.conv2d_backward_data(dy, w_.working, dx_, d);
  observe(ctx, RoundingPoint::InputGrad, dx_,
          [&](Tensor& exact) { ctx.be.conv2d_backward_data(dy, w_.working, exact, d); });
  return dx_;
}

void Conv2d::collect_params(ParamList& out) {
  out.push_back(&w_);
  if (o_.bias) out.push_back(&b_);
}

}  // namespace mp
