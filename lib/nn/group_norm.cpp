#include "nn/group_norm.h"

namespace mp {

Shape GroupNorm::infer(const Shape& in) {
  if (in.empty())
    throw ConfigError(where_ + ": group_norm: expected a per-sample input [channels, ...], got a scalar");
  channels_ = in[0];
  if (channels_ % groups_ != 0)
    throw ConfigError(where_ + ": group_norm: groups " + std::to_string(groups_) +
                      " must divide the " + std::to_string(channels_) + " channels of the input " +
                      shape_str(in));
  return out_shape_ = in;
}

void GroupNorm::create_params(Backend& be, bool master_fp32) {
  Tensor one = be.empty({channels_}, DType::F32), zero = be.empty({channels_}, DType::F32);
  be.fill(one, 1.0f);
  be.fill(zero, 0.0f);
  if (affine_) {
    gamma_ = make_parameter(be, name() + ".weight", {channels_}, dtype(), master_fp32, false);
    beta_ = make_parameter(be, name() + ".bias", {channels_}, dtype(), master_fp32, false);
    set_parameter_values(be, gamma_, one);
    set_parameter_values(be, beta_, zero);
  } else {
    ones_ = one;
    zeros_ = zero;
    dgamma_scratch_ = be.empty({channels_}, DType::F32);
    dbeta_scratch_ = be.empty({channels_}, DType::F32);
  }
}

Tensor GroupNorm::view(const Tensor& t) const {
  const int64_t n = t.dim(0);
  return t.reshape({n, channels_, n > 0 ? t.numel() / (n * channels_) : 0});
}

const Tensor& GroupNorm::forward(Context& ctx, const Tensor& x) {
  x_ = as_dtype(ctx, x, xcast_, RoundingPoint::InputCast);
  const int64_t rows = x_.dim(0) * groups_;
  ensure_buffer(ctx.be, y_, x_.shape(), dtype());
  ensure_buffer(ctx.be, mean_, {rows}, DType::F32);
  ensure_buffer(ctx.be, rstd_, {rows}, DType::F32);
  const Tensor x3 = view(x_);
  Tensor y3 = view(y_);
  const Tensor& gamma = affine_ ? gamma_.working : ones_;
  const Tensor& beta = affine_ ? beta_.working : zeros_;
  ctx.be.group_norm_forward(x3, gamma, beta, groups_, eps_, y3, mean_, rstd_);
  observe(ctx, RoundingPoint::Output, y_, [&](Tensor& exact) {
    Tensor e3 = view(exact);
    Tensor mean = ctx.be.empty({rows}, DType::F32), rstd = ctx.be.empty({rows}, DType::F32);
    ctx.be.group_norm_forward(x3, gamma, beta, groups_, eps_, e3, mean, rstd);
  });
  return y_;
}

const Tensor& GroupNorm::backward(Context& ctx, const Tensor& dy_in) {
  const Tensor& dy = as_dtype(ctx, dy_in, dycast_, RoundingPoint::GradCast);
  ensure_buffer(ctx.be, dx_, x_.shape(), dtype());
  const Tensor dy3 = view(dy), x3 = view(x_);
  Tensor dx3 = view(dx_);
  const Tensor& gamma = affine_ ? gamma_.working : ones_;
  // Without affine parameters, or with them frozen (optimizer.freeze: no gradient buffer), the
  // parameter gradients go to scratch buffers that are thrown away.
  auto grad_or_scratch = [&](Parameter& p, Tensor& scratch) -> Tensor& {
    if (affine_ && p.trainable()) return p.grad;
    ensure_buffer(ctx.be, scratch, {channels_}, DType::F32);
    return scratch;
  };
  ctx.be.group_norm_backward(dy3, x3, gamma, groups_, mean_, rstd_, dx3,
                             grad_or_scratch(gamma_, dgamma_scratch_),
                             grad_or_scratch(beta_, dbeta_scratch_));
  observe(ctx, RoundingPoint::InputGrad, dx_, [&](Tensor& exact) {
    // Scratch parameter gradients: the real ones accumulate and must not be added to twice.
    Tensor e3 = view(exact);
    Tensor dg = ctx.be.empty({channels_}, DType::F32), db = ctx.be.empty({channels_}, DType::F32);
    ctx.be.fill(dg, 0.0f);
    ctx.be.fill(db, 0.0f);
    ctx.be.group_norm_backward(dy3, x3, gamma, groups_, mean_, rstd_, e3, dg, db);
  });
  return dx_;
}

void GroupNorm::collect_params(ParamList& out) {
  if (!affine_) return;
  out.push_back(&gamma_);
  out.push_back(&beta_);
}

}  // namespace mp
