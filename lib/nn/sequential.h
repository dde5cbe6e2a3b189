// sequential.h: containers. Sequential applies its children in order; Residual computes
// y = x + f(x) for the sequence f (shapes must match), with the sum in fp32 rounded once.
// A residual whose output a layernorm reads next (the pre-norm transformer's x + f(x) feeding the
// next block's layernorm, or the final one) adds and normalises in one op
// (LayerNorm::forward_with_add): Sequential::infer links each such pair among its children.
#pragma once
#include <memory>
#include <vector>

#include "nn/layer.h"

namespace mp {

class LayerNorm;

// Whether linked residual/layernorm pairs run fused (default true). Process-wide; for tests and
// benchmarks that compare the two (the results are bit-identical on the CPU engine).
void set_residual_layernorm_fusion(bool enabled);
bool residual_layernorm_fusion();

class Sequential : public Layer {
 public:
  void add(std::unique_ptr<Layer> l) { layers_.push_back(std::move(l)); }
  Shape infer(const Shape& in) override;
  const Tensor& forward(Context& ctx, const Tensor& x) override;
  const Tensor& backward(Context& ctx, const Tensor& dy) override;
  void collect_params(ParamList& out) override;
  std::vector<Layer*> children() override;
  bool is_container() const override { return true; }
  void set_need_input_grad(bool need) override;

 private:
  std::vector<std::unique_ptr<Layer>> layers_;
};

class Residual : public Layer {
 public:
  Residual() : body_(std::make_unique<Sequential>()) {}
  Sequential& body() { return *body_; }
  Shape infer(const Shape& in) override;
  const Tensor& forward(Context& ctx, const Tensor& x) override;
  const Tensor& backward(Context& ctx, const Tensor& dy) override;
  void collect_params(ParamList& out) override { body_->collect_params(out); }
  std::vector<Layer*> children() override { return body_->children(); }
  bool is_container() const override { return true; }
  // The layernorm that reads this residual's output next (null: none), set by Sequential::infer.
  void set_next_layernorm(LayerNorm* ln) { next_ln_ = ln; }
  LayerNorm* next_layernorm() const { return next_ln_; }

 private:
  std::unique_ptr<Sequential> body_;
  LayerNorm* next_ln_ = nullptr;
  Tensor x_, xcast_, dycast_, y_, dx_;
};

}  // namespace mp
