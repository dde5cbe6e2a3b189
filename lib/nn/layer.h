// layer.h: the Layer interface every layer implements, the per-pass Context, and the buffer
// helpers that keep allocation out of the step loop (buffers grow once, then are reused).
//
// Data flow: forward(x) returns a tensor owned by the layer (valid until its next forward);
// backward(dy) returns dx owned by the layer and ADDS the parameter gradients into the fp32
// Parameter::grad buffers (accumulation across micro-batches, docs/ARCHITECTURE.md "The precision contract"). A layer computes in its
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

// Where a layer rounds an fp32 result into its dtype: the points precision telemetry observes
// (precision/telemetry.h).
enum class RoundingPoint : uint8_t {
  Output,     // forward: the layer's output y
  InputGrad,  // backward: the activation gradient dL/dx it passes down (x the loss scale)
  InputCast,  // forward: an input of another dtype cast into this layer's dtype
  GradCast,   // backward: an incoming gradient of another dtype cast into this layer's dtype
};

// Observer of one probe pass (the first micro-batch of a telemetry step). At each rounding point
// a layer hands over the tensor it stored and a function that computes the same values again,
// from the same inputs, into a given fp32 tensor of that shape: the values before rounding.
// Ordinary passes have no probe and pay one null test per point.
class RoundingProbe {
 public:
  virtual ~RoundingProbe() = default;
  virtual void observe(const Layer& layer, RoundingPoint point, const Tensor& stored,
                       const std::function<void(Tensor& exact_f32)>& recompute) = 0;
};

struct Context {
  Context(Backend& b, bool train, uint64_t s = 0, uint64_t offset = 0)
      : be(b), training(train), seed(s), rng_offset(offset) {}
  Backend& be;
  bool training = true;
  uint64_t seed = 0;        // run seed (dropout masks)
  uint64_t rng_offset = 0;  // advanced by the trainer once per micro-batch
  RoundingProbe* probe = nullptr;  // set for a telemetry probe pass only
  // The training step's stats (TrainStep::micro_batch; null elsewhere): layers whose ops can
  // defer a data error (Embedding: a bad token id) record it there instead of reading back, and
  // raise it from raise_deferred after the step's read.
  Tensor* stats = nullptr;
  // Graph passes (train.cuda_graph; TrainStep::micro_batch): a device int64 holding
  // rng_offset << 16, uploaded before each micro-batch, so that dropout ops keep the same
  // arguments from step to step (dropout_stream). Null elsewhere.
  const Tensor* rng_base = nullptr;
};

// A dropout op's Philox stream position for layer stream `stream`: (rng_offset << 16) + stream,
// as a host offset, or (graph passes) `stream` plus the device value ctx.rng_base: the same sum.
struct DropoutStream {
  uint64_t offset;
  const Tensor* base;
};
inline DropoutStream dropout_stream(const Context& ctx, uint64_t stream) {
  if (ctx.rng_base) return DropoutStream{stream, ctx.rng_base};
  return DropoutStream{(ctx.rng_offset << 16) + stream, nullptr};
}

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
  // Bytes per sample a layer keeps for its backward beyond its output and the output's gradient
  // (max pooling's argmax, normalisation statistics): for the --dry-run memory estimate.
  virtual int64_t saved_bytes_per_sample() const { return 0; }
  // Child layers (containers only), for summaries.
  virtual std::vector<Layer*> children() { return {}; }
  virtual bool is_container() const { return false; }
  // Throws the DataError this layer deferred into Context::stats (read back as `s`), if any.
  virtual void raise_deferred(const StepStats& s) const { (void)s; }
  // Elements per sample this leaf layer keeps for backward (its output unless it says otherwise);
  // the memory estimate counts twice this (values and their gradients) in the layer's dtype.
  virtual int64_t activation_elems() const { return shape_numel(out_shape_); }

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
  bool need_input_grad() const { return need_dx_; }

 protected:
  // `x` in this layer's dtype: x itself, or a cast copy in `buf`.
  const Tensor& as_dtype(Backend& be, const Tensor& x, Tensor& buf) const;
  // The same, reporting the cast (a rounding point `point`) to a probe.
  const Tensor& as_dtype(Context& ctx, const Tensor& x, Tensor& buf, RoundingPoint point) const;
  // Reports `stored` to the probe, if any; `recompute` writes the values before rounding.
  template <class F>
  void observe(Context& ctx, RoundingPoint point, const Tensor& stored, F&& recompute) const {
    if (ctx.probe) ctx.probe->observe(*this, point, stored, recompute);
  }
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
