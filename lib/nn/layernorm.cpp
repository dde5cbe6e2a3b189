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
    dgamma_scratch_ = be.empty({cols_}, DType::F32);
    dbeta_scratch_ = be.empty({cols_}, DType::F32);
  }
}

const Tensor& LayerNorm::forward(Context& ctx, const Tensor& x) {
  x_ = as_dtype(ctx.be, x, xcast_);
  const int64_t rows = x_.numel() / cols_;
  ensure_buffer(ctx.be, y_, x_.shape(), dtype());
  ensure_buffer(ctx.be, mean_, {rows}, DType::F32);
  ensure_buffer(ctx.be, rstd_, {rows}, DType::F32);
  Tensor x2 = x_.reshape({rows, cols_}), y2 = y_.reshape({rows, cols_});
  ctx.be.layernorm_forward(x2, affine_ ? gamma_.working : ones_, affine_ ? beta_.working : zeros_,
                           eps_, y2, mean_, rstd_);
  return y_;
}

const Tensor& LayerNorm::backward(Context& ctx, const Tensor& dy_in) {
  const Tensor& dy = as_dtype(ctx.be, dy_in, dycast_);
  const int64_t rows = x_.numel() / cols_;
  ensure_buffer(ctx.be, dx_, x_.shape(), dtype());
  Tensor dy2 = dy.reshape({rows, cols_}), x2 = x_.reshape({rows, cols_}),
         dx2 = dx_.reshape({rows, cols_});
  ctx.be.layernorm_backward(dy2, x2, affine_ ? gamma_.working : ones_, mean_, rstd_, dx2,
                            affine_ ? gamma_.grad : dgamma_scratch_,
                            affine_ ? beta_.grad : dbeta_scratch_);
  return dx_;
}

void LayerNorm::collect_params(ParamList& out) {
  if (!affine_) return;
  out.push_back(&gamma_);
  out.push_back(&beta_);
}

}  // namespace mp
