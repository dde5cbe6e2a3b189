#include "nn/linear.h"

#include "nn/activation.h"
#include "nn/init.h"

namespace mp {

Shape Linear::infer(const Shape& in) {
  if (in.empty())
    throw ConfigError(where_ + ": linear: expected an input with at least one dimension, got a scalar");
  in_ = in.back();
  out_shape_ = in;
  out_shape_.back() = out_;
  return out_shape_;
}

void Linear::create_params(Backend& be, bool master_fp32, uint64_t seed, uint64_t offset) {
  if (!tied_) {
    w_ = make_parameter(be, name() + ".weight", Shape{out_, in_}, dtype(), master_fp32, true);
    Tensor tmp = be.empty(Shape{out_, in_}, DType::F32);
    init_tensor(be, tmp, init_, init_std_, in_, out_, seed, offset);
    set_parameter_values(be, w_, tmp);
  }
  if (has_bias_) {
    b_ = make_parameter(be, name() + ".bias", Shape{out_}, dtype(), master_fp32, false);
    Tensor z = be.empty(Shape{out_}, DType::F32);
    be.fill(z, 0.0f);
    set_parameter_values(be, b_, z);
  }
}

const Tensor& Linear::forward(Context& ctx, const Tensor& x) {
  x_ = as_dtype(ctx, x, xcast_, RoundingPoint::InputCast);
  const int64_t rows = x_.numel() / in_;
  Shape ys = x.shape();
  ys.back() = out_;
  ensure_buffer(ctx.be, y_, ys, dtype());
  Tensor x2 = x_.reshape({rows, in_});
  Tensor y2 = y_.reshape({rows, out_});
  const Tensor* bias = has_bias_ ? &b_.working : nullptr;
  if (gelu_out_ && !ctx.probe) {  // y_ = pre, and the gelu's output in the same GEMM
    Tensor a2 = gelu_out_->fused_output(ctx.be, y_).reshape({rows, out_});
    ctx.be.linear_gelu_forward(x2, w().working, bias, y2, a2);
    return y_;
  }
  ctx.be.gemm(false, true, 1.0f, x2, w().working, 0.0f, y2, bias);
  observe(ctx, RoundingPoint::Output, y_, [&](Tensor& exact) {
    Tensor e2 = exact.reshape({rows, out_});
    Tensor b32;  // a gemm's bias is fp32 or C's dtype: the working bias, exactly in fp32
    if (bias) {
      b32 = ctx.be.empty(bias->shape(), DType::F32);
      ctx.be.cast(*bias, b32);
    }
    ctx.be.gemm(false, true, 1.0f, x2, w().working, 0.0f, e2, bias ? &b32 : nullptr);
  });
  return y_;
}

const Tensor& Linear::backward(Context& ctx, const Tensor& dy_in) {
  const Tensor& dy = as_dtype(ctx, dy_in, dycast_, RoundingPoint::GradCast);
  const int64_t rows = dy.numel() / out_;
  Tensor dy2 = dy.reshape({rows, out_});
  Tensor x2 = x_.reshape({rows, in_});
  // dW[out,in] += dy^T x, fp32 accumulation buffer; a frozen weight skips the GEMM (it has no
  // gradient buffer), while dx below still flows through it
  const bool train_b = has_bias_ && b_.trainable();
  if (w().trainable() && train_b) {
    ctx.be.linear_param_grad(dy2, x2, 1.0f, w().grad, b_.grad);
  } else {
    if (w().trainable()) ctx.be.gemm(true, false, 1.0f, dy2, x2, 1.0f, w().grad);
    if (train_b) ctx.be.bias_grad(dy2, b_.grad, 1.0f);
  }
  if (!need_dx_) return dx_;
  ensure_buffer(ctx.be, dx_, x_.shape(), dtype());
  Tensor dx2 = dx_.reshape({rows, in_});
  if (gelu_in_ && !ctx.probe) {  // dx_ = the gradient of the gelu's input (dpre)
    ctx.be.linear_dgelu_backward(dy2, w().working, gelu_in_->input().reshape({rows, in_}), dx2);
    gelu_in_->fused_input_grad(dx_);
    return dx_;
  }
  ctx.be.gemm(false, false, 1.0f, dy2, w().working, 0.0f, dx2);
  observe(ctx, RoundingPoint::InputGrad, dx_, [&](Tensor& exact) {
    Tensor e2 = exact.reshape({rows, in_});
    ctx.be.gemm(false, false, 1.0f, dy2, w().working, 0.0f, e2);
  });
  return dx_;
}

void Linear::collect_params(ParamList& out) {
  if (!tied_) out.push_back(&w_);
  if (has_bias_) out.push_back(&b_);
}

}  // namespace mp
