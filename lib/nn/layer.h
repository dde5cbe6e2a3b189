// layer.h: the Layer interface every layer implements, the per-pass Context, and the buffer
// helpers that keep allocation out of the step loop (buffers grow once, then are reused).
//
// Data flow: forward(x) returns a tensor owned by the layer (valid until its next forward);
// backward(dy) returns dx owned by the layer and ADDS the parameter gradients into the fp32
// Parameter::grad buffers (accumulation across micro-batches, DESIGN.md). A layer computes in its
// own dtype (the policy's, or fp32 when overridden) and casts an input of another dtype at its
// boundary, so mixed fp32/low-precision models compose.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "nn/layer_spec.h"
#include "nn/parameter.h"

namespace mp {

class Layer;

struct Context {
  Context(Backend& b, bool train, uint64_t s = 0, uint64_t offset = 0)
      : be(b), training(train), seed(s), rng_offset(offset) {}
  Backend& be;
  bool training = true;
  uint64_t seed = 0;        // run seed (dropout masks)
  uint64_t rng_offset = 0;  // advanced by the trainer once per micro-batch
  // When set, called with every layer's output during forward (activation telemetry).
  std::function<void(const Layer&, const Tensor&)> probe;
};

class Layer {
 public:
  virtual ~Layer() = default;
  const std::string& name() const { return name_; }
  const std::string& type() const { return type_; }
  DType dtype() const { return dtype_; }

  // Per-sample output shape for a per-sample input shape; throws ConfigError naming `where`.
  virtual Shape infer(const Shape& in) = 0;
  virtual const Tensor& forward(Context& ctx, const Tensor& x) = 0;
  virtual const Tensor& backward(Context& ctx, const Tensor& dy) = 0;
  virtual void collect_params(ParamList& out) { (void)out; }
  // Child layers (containers only), for summaries.
  virtual std::vector<Layer*> children() { return {}; }
  virtual bool is_container() const { return false; }

  // Set by the builder.
  void configure(std::string name, std::string type, DType dtype, std::string where) {
    name_ = std::move(name);
    type_ = std::move(type);
    dtype_ = dtype;
    where_ = std::move(where);
  }
  const std::string& where() const { return where_; }
  const Shape& out_shape() const { return out_shape_; }
  // False for the first layer of a model: its input gradient is never used, so backward() may
  // skip computing it (and then returns an undefined tensor).
  virtual void set_need_input_grad(bool need) { need_dx_ = need; }

 protected:
  // `x` in this layer's dtype: x itself, or a cast copy in `buf`.
  const Tensor& as_dtype(Backend& be, const Tensor& x, Tensor& buf) const;
  std::string where_;
  Shape out_shape_;  // per-sample, set by infer()
  bool need_dx_ = true;

 private:
  std::string name_, type_;
  DType dtype_ = DType::F32;
};

// Make `t` a [shape] tensor of `dt`, reusing its storage when it is large enough.
void ensure_buffer(Backend& be, Tensor& t, const Shape& shape, DType dt);
// [batch] + per-sample shape.
Shape batch_shape(int64_t batch, const Shape& sample);

}  // namespace mp
