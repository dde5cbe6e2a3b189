// model.h: a network built from the spec's layer list: shape inference, parameter creation and
// initialisation, forward/backward through the root sequence, and a per-layer summary.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nn/layer.h"
#include "nn/sequential.h"

namespace mp {

// The resolved precision policy as the builder needs it (precision's model_options(DTypePolicy)
// fills these; nn sits below precision). Each layer's dtype: layer_compute_dtype (layer_dtype.h).
struct ModelOptions {
  DType compute = DType::F32;           // the policy's compute dtype D
  bool master_fp32 = true;              // false: pure low precision (no fp32 master copy)
  std::vector<std::string> fp32_layers; // names of layers kept in fp32 whatever D
  uint64_t seed = 0;                    // initialisation seed
  bool need_input_grad = false;         // compute d(loss)/d(input) too (tests, probing)
  // Let Linear layers do a neighbouring gelu(tanh)'s work in their GEMMs (linear_fusion.h): the
  // same bits on the CPU engine, cuBLASLt epilogues on CUDA. false: tests of that equality.
  bool fuse_linear_gelu = true;
};

struct LayerRow {
  std::string name, type;
  int depth = 0;     // nesting level (children of residual/sequential are deeper)
  Shape out_shape;   // per sample
  int64_t params = 0;
  DType dtype = DType::F32;
  int64_t activation_elems = 0;  // per sample, saved or produced for backward
  int64_t saved_bytes = 0;       // per sample, kept beyond those (Layer::saved_bytes_per_sample)
};

class Model {
 public:
  // Throws ConfigError (naming the layer's file:line:col) for shape or spec problems.
  static std::unique_ptr<Model> build(Backend& be, const std::vector<LayerSpec>& layers,
                                      const Shape& sample_shape, const ModelOptions& opt);

  // x is [batch] + input_shape(), or [batch] + any shape with as many elements per sample (e.g.
  // flat [784] pixels for an input_shape [1, 28, 28]): then it is viewed as the input shape.
  const Tensor& forward(Context& ctx, const Tensor& x);
  // Accumulates parameter gradients; returns d/d(input) when built with need_input_grad.
  const Tensor& backward(Context& ctx, const Tensor& dy) { return root_.backward(ctx, dy); }

  // Every parameter, in model order (checkpoints, export, eval, the model signature).
  const ParamList& params() const { return params_; }
  // The parameters that are not frozen (Parameter::trainable), in model order: what gradients,
  // the all-reduce, the global norm and the optimizer see.
  ParamList trainable_params() const;
  Parameter* find_param(const std::string& name) const;
  int64_t num_params() const;
  // Linear / gelu(tanh) pairs linked by ModelOptions::fuse_linear_gelu (linear_fusion.h).
  int linear_gelu_links() const { return linear_gelu_links_; }
  const Shape& input_shape() const { return input_shape_; }
  const Shape& output_shape() const { return root_.out_shape(); }
  std::vector<LayerRow> summary();
  // f(layer) for every layer, containers before their children, in model order.
  void visit_layers(const std::function<void(Layer&)>& f);
  // Layer::raise_deferred of every layer, in model order (the first that raises wins): after the
  // training step's read_step_stats, before any update.
  void raise_deferred(const StepStats& s);

 private:
  Sequential root_;
  ParamList params_;
  Shape input_shape_;
  Tensor x_view_;  // the input viewed as [batch] + input_shape_
  int linear_gelu_links_ = 0;
};

}  // namespace mp
