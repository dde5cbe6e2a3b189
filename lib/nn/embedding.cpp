#include "nn/embedding.h"

#include "backend/token_index.h"
#include "kernels/embedding.h"
#include "nn/init.h"

namespace mp {

Shape Embedding::infer(const Shape& in) {
  if (in.empty())
    throw ConfigError(where_ + ": embedding: expected token ids of shape [T] per sample (the "
                      "context length), got a scalar; set model.input_shape: [T]");
  out_shape_ = in;
  out_shape_.push_back(dim_);
  return out_shape_;
}

void Embedding::create_params(Backend& be, bool master_fp32, uint64_t seed, uint64_t offset) {
  w_ = make_parameter(be, name() + ".weight", Shape{vocab_, dim_}, dtype(), master_fp32, true);
  Tensor tmp = be.empty(Shape{vocab_, dim_}, DType::F32);
  init_tensor(be, tmp, init_, init_std_, dim_, vocab_, seed, offset);
  set_parameter_values(be, w_, tmp);
}

template <class F> void Embedding::with_layer_context(F&& f) const {
  try {
    f();
  } catch (const DataError& e) {
    throw DataError(where_ + ": layer " + name() + " (embedding, vocab " + std::to_string(vocab_) +
                    "): " + e.what());
  }
}

const Tensor& Embedding::forward(Context& ctx, const Tensor& x) {
  // Ids arrive as fp32 (the model input); a cast from another dtype would round ids > 256 in
  // bf16, so only fp32 is accepted as it is, anything else is widened (exact).
  if (x.dtype() == DType::F32) {
    ids_ = x;
  } else {
    ensure_buffer(ctx.be, idscast_, x.shape(), DType::F32);
    ctx.be.cast(x, idscast_);
    ids_ = idscast_;
  }
  Shape ys = x.shape();
  ys.push_back(dim_);
  ensure_buffer(ctx.be, y_, ys, dtype());
  Tensor y2 = y_.reshape({x.numel(), dim_});
  deferred_ = ctx.stats != nullptr;
  if (deferred_)
    ctx.be.embedding_forward_deferred(ids_, w_.working, y2, *ctx.stats);
  else
    with_layer_context([&] { ctx.be.embedding_forward(ids_, w_.working, y2); });
  return y_;
}

const Tensor& Embedding::backward(Context& ctx, const Tensor& dy_in) {
  const Tensor& dy = as_dtype(ctx, dy_in, dycast_, RoundingPoint::GradCast);
  if (w_.trainable()) {  // a frozen table (optimizer.freeze) has no gradient buffer
    const Tensor dy2 = dy.reshape({ids_.numel(), dim_});
    if (ctx.stats)
      ctx.be.embedding_backward_deferred(ids_, dy2, w_.grad, *ctx.stats);
    else
      with_layer_context([&] { ctx.be.embedding_backward(ids_, dy2, w_.grad); });
  }
  if (!need_dx_) return dx_;
  // Token ids are piecewise constant inputs: their gradient is zero.
  ensure_buffer(ctx.be, dx_, ids_.shape(), dtype());
  ctx.be.fill(dx_, 0.0f);
  return dx_;
}

void Embedding::raise_deferred(const StepStats& s) const {
  if (!deferred_ || !s.bad_token || kernels::token_id_valid(s.bad_token_id, vocab_)) return;
  with_layer_context([&] {
    throw token_index::bad_token(ids_.shape(), s.bad_token_index, s.bad_token_id, vocab_);
  });
}

}  // namespace mp
