#include "nn/layernorm.h"

namespace mp {

Shape LayerNorm::infer(const Shape& in) {
  if (in.empty())
    throw ConfigError(where_ + ": layernorm: expected an input with at least one dimension");
  cols_ = in.back();
  return out_shape_ = in;
}

void LayerNorm::create_params(Backend& be, bool master_fp32) {
  Tensor one = be.empty({cols_}, DType::F32), zero = be.empty({cols_}, DType::F32);
  be.fill(one, 1.0f);
  be.fill(zero, 0.0f);
  if (affine_) {
    gamma_ = make_parameter(be, name() + ".weight", {cols_}, dtype(), master_fp32, false);
    beta_ = make_parameter(be, name() + ".bias", {cols_}, dtype(), master_fp32, false);
    set_parameter_values(be, gamma_, one);
    set_parameter_values(be, beta_, zero);
  } else {
    ones_ = one;
    zeros_ = zero;
  }
}

void LayerNorm::prepare(Context& ctx, const Shape& in) {
  const int64_t rows = shape_numel(in) / cols_;
  ensure_buffer(ctx.be, y_, in, dtype());
  ensure_buffer(ctx.be, mean_, {rows}, DType::F32);
  ensure_buffer(ctx.be, rstd_, {rows}, DType::F32);
}

bool LayerNorm::forward_with_add(Context& ctx, const Tensor& a, const Tensor& b, Tensor& sum_out) {
  fused_input_ = nullptr;
  for (const Tensor* t : {&a, &b, static_cast<const Tensor*>(&sum_out)})
    if (t->dtype() != dtype()) return false;
  prepare(ctx, sum_out.shape());
  const int64_t rows = sum_out.numel() / cols_;
  Tensor a2 = a.reshape({rows, cols_}), b2 = b.reshape({rows, cols_}),
         s2 = sum_out.reshape({rows, cols_}), y2 = y_.reshape({rows, cols_});
  ctx.be.add_layernorm_forward(a2, b2, affine_ ? gamma_.working : ones_,
                               affine_ ? beta_.working : zeros_, eps_, s2, y2, mean_, rstd_);
  fused_input_ = sum_out.raw();
  return true;
}

const Tensor& LayerNorm::forward(Context& ctx, const Tensor& x) {
  x_ = as_dtype(ctx, x, xcast_, RoundingPoint::InputCast);
  const int64_t rows = x_.numel() / cols_;
  Tensor x2 = x_.reshape({rows, cols_});
  const Tensor& gamma = affine_ ? gamma_.working : ones_;
  const Tensor& beta = affine_ ? beta_.working : zeros_;
  // Already computed by forward_with_add when x is the sum it wrote (same buffer, same shape).
  const bool done = fused_input_ && fused_input_ == x_.raw() && y_.shape() == x_.shape();
  fused_input_ = nullptr;
  if (!done) {
    prepare(ctx, x_.shape());
    Tensor y2 = y_.reshape({rows, cols_});
    ctx.be.layernorm_forward(x2, gamma, beta, eps_, y2, mean_, rstd_);
  }
  observe(ctx, RoundingPoint::Output, y_, [&](Tensor& exact) {
    Tensor e2 = exact.reshape({rows, cols_});
    Tensor mean = ctx.be.empty({rows}, DType::F32), rstd = ctx.be.empty({rows}, DType::F32);
    ctx.be.layernorm_forward(x2, gamma, beta, eps_, e2, mean, rstd);
  });
  return y_;
}

const Tensor& LayerNorm::backward(Context& ctx, const Tensor& dy_in) {
  const Tensor& dy = as_dtype(ctx, dy_in, dycast_, RoundingPoint::GradCast);
  const int64_t rows = x_.numel() / cols_;
  ensure_buffer(ctx.be, dx_, x_.shape(), dtype());
  Tensor dy2 = dy.reshape({rows, cols_}), x2 = x_.reshape({rows, cols_}),
         dx2 = dx_.reshape({rows, cols_});
  const Tensor& gamma = affine_ ? gamma_.working : ones_;
  // No parameter gradients (undefined tensors: not computed) when non-affine or frozen.
  Tensor none;
  ctx.be.layernorm_backward(dy2, x2, gamma, mean_, rstd_, dx2,
                            affine_ && gamma_.trainable() ? gamma_.grad : none,
                            affine_ && beta_.trainable() ? beta_.grad : none);
  observe(ctx, RoundingPoint::InputGrad, dx_, [&](Tensor& exact) {
    // dx only: the real parameter gradients accumulate and must not be added to twice.
    Tensor e2 = exact.reshape({rows, cols_});
    Tensor dg, db;
    ctx.be.layernorm_backward(dy2, x2, gamma, mean_, rstd_, e2, dg, db);
  });
  return dx_;
}

void LayerNorm::collect_params(ParamList& out) {
  if (!affine_) return;
  out.push_back(&gamma_);
  out.push_back(&beta_);
}

}  // namespace mp
