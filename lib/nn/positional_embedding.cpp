#include "nn/positional_embedding.h"

#include "nn/init.h"

namespace mp {

Shape PositionalEmbedding::infer(const Shape& in) {
  if (in.size() != 2)
    throw ConfigError(where_ + ": positional_embedding: expected a per-sample input [T, dim] (e.g. "
                      "an embedding's output), got " + shape_str(in));
  const int64_t T = in[0];
  if (max_len_ == 0) max_len_ = T;
  if (T > max_len_)
    throw ConfigError(where_ + ": positional_embedding: the input has " + std::to_string(T) +
                      " positions but max_len is " + std::to_string(max_len_) +
                      "; raise max_len to at least " + std::to_string(T) + " or shorten the context");
  dim_ = in[1];
  return out_shape_ = in;
}

void PositionalEmbedding::create_params(Backend& be, bool master_fp32, uint64_t seed,
                                        uint64_t offset) {
  p_ = make_parameter(be, name() + ".weight", Shape{max_len_, dim_}, dtype(), master_fp32, true);
  Tensor tmp = be.empty(Shape{max_len_, dim_}, DType::F32);
  init_tensor(be, tmp, init_, init_std_, dim_, max_len_, seed, offset);
  set_parameter_values(be, p_, tmp);
}

const Tensor& PositionalEmbedding::forward(Context& ctx, const Tensor& x_in) {
  const Tensor& x = as_dtype(ctx, x_in, xcast_, RoundingPoint::InputCast);
  const int64_t B = x.dim(0), per = x.numel() / B;  // per = T * dim
  const Tensor P = p_.working.flat_range(0, per);
  ensure_buffer(ctx.be, y_, x.shape(), dtype());
  auto add_rows = [&](Tensor& out) {
    const Tensor x2 = x.reshape({B, per});
    Tensor o2 = out.reshape({B, per});
    for (int64_t b = 0; b < B; ++b) {
      Tensor ob = o2.slice_rows(b, b + 1).reshape({per});
      ctx.be.add(x2.slice_rows(b, b + 1).reshape({per}), P, ob);
    }
  };
  add_rows(y_);
  observe(ctx, RoundingPoint::Output, y_, add_rows);
  return y_;
}

const Tensor& PositionalEmbedding::backward(Context& ctx, const Tensor& dy_in) {
  const Tensor& dy = as_dtype(ctx, dy_in, dycast_, RoundingPoint::GradCast);
  const int64_t B = dy.dim(0), per = dy.numel() / B;
  if (p_.trainable()) {  // a frozen table (optimizer.freeze) has no gradient buffer
    Tensor dp = p_.grad.flat_range(0, per);
    ctx.be.bias_grad(dy.reshape({B, per}), dp, 1.0f);
  }
  return dy;
}

}  // namespace mp
