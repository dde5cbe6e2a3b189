#include "nn/sequential.h"

#include <atomic>

#include "nn/layernorm.h"

namespace mp {

namespace {

std::atomic<bool> g_fuse_residual_layernorm{true};

// The layer that first reads l's input: l itself, or for a container the first reader of its
// first child (a residual's skip only keeps the input, its body reads it). Null for an empty one.
Layer* first_reader(Layer* l) {
  if (!dynamic_cast<Sequential*>(l) && !dynamic_cast<Residual*>(l)) return l;
  const std::vector<Layer*> c = l->children();
  return c.empty() ? nullptr : first_reader(c.front());
}

// The residual whose add writes l's output: l itself, or the one ending a sequence; else null.
Residual* output_residual(Layer* l) {
  if (auto* r = dynamic_cast<Residual*>(l)) return r;
  if (auto* s = dynamic_cast<Sequential*>(l)) {
    const std::vector<Layer*> c = s->children();
    return c.empty() ? nullptr : output_residual(c.back());
  }
  return nullptr;
}

}  // namespace

void set_residual_layernorm_fusion(bool enabled) { g_fuse_residual_layernorm = enabled; }
bool residual_layernorm_fusion() { return g_fuse_residual_layernorm; }

Shape Sequential::infer(const Shape& in) {
  Shape s = in;
  for (auto& l : layers_) s = l->infer(s);
  // Each residual output that a layernorm reads next is added and normalised in one op.
  for (size_t i = 0; i + 1 < layers_.size(); ++i)
    if (Residual* r = output_residual(layers_[i].get()))
      r->set_next_layernorm(dynamic_cast<LayerNorm*>(first_reader(layers_[i + 1].get())));
  return out_shape_ = s;
}

const Tensor& Sequential::forward(Context& ctx, const Tensor& x) {
  const Tensor* cur = &x;
  for (auto& l : layers_) cur = &l->forward(ctx, *cur);
  return *cur;
}

const Tensor& Sequential::backward(Context& ctx, const Tensor& dy) {
  const Tensor* cur = &dy;
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
    cur = &(*it)->backward(ctx, *cur);
    // Nothing below needs this layer's input gradient (set_need_input_grad): the layers before
    // it have no parameters, so their backward has nothing to do.
    if (!(*it)->need_input_grad()) return *cur;
  }
  return *cur;
}

void Sequential::collect_params(ParamList& out) {
  for (auto& l : layers_) l->collect_params(out);
}

std::vector<Layer*> Sequential::children() {
  std::vector<Layer*> v;
  for (auto& l : layers_) v.push_back(l.get());
  return v;
}

// When the input gradient is not needed, neither is that of any leading layer without parameters
// (flatten, dropout, an activation): the first layer with parameters is told so too and skips its
// input-gradient GEMM, and backward() stops there.
void Sequential::set_need_input_grad(bool need) {
  need_dx_ = need;
  for (auto& l : layers_) {
    l->set_need_input_grad(need);
    if (need) break;
    ParamList p;
    l->collect_params(p);
    if (!p.empty()) break;
  }
}

Shape Residual::infer(const Shape& in) {
  const Shape out = body_->infer(in);
  if (out != in)
    throw ConfigError(where_ + ": residual: the wrapped layers map " + shape_str(in) + " to " +
                      shape_str(out) + "; a residual block must keep the shape (x + f(x))");
  return out_shape_ = in;
}

const Tensor& Residual::forward(Context& ctx, const Tensor& x) {
  x_ = as_dtype(ctx, x, xcast_, RoundingPoint::InputCast);
  const Tensor& f = body_->forward(ctx, x_);
  ensure_buffer(ctx.be, y_, x_.shape(), dtype());
  // y_ = x_ + f, and the next layernorm's output of it when that layer can take the sum (dtypes).
  if (!(next_ln_ && residual_layernorm_fusion() && next_ln_->forward_with_add(ctx, x_, f, y_)))
    ctx.be.add(x_, f, y_);
  observe(ctx, RoundingPoint::Output, y_, [&](Tensor& exact) { ctx.be.add(x_, f, exact); });
  return y_;
}

const Tensor& Residual::backward(Context& ctx, const Tensor& dy_in) {
  const Tensor& dy = as_dtype(ctx, dy_in, dycast_, RoundingPoint::GradCast);
  const Tensor& df = body_->backward(ctx, dy);
  ensure_buffer(ctx.be, dx_, dy.shape(), dtype());
  ctx.be.add(dy, df, dx_);
  observe(ctx, RoundingPoint::InputGrad, dx_, [&](Tensor& exact) { ctx.be.add(dy, df, exact); });
  return dx_;
}

}  // namespace mp
