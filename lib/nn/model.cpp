#include "nn/model.h"

#include <algorithm>

#include "nn/activation.h"
#include "nn/conv2d.h"
#include "nn/dropout.h"
#include "nn/flatten.h"
#include "nn/group_norm.h"
#include "nn/layer_dtype.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/pool2d.h"

namespace mp {

namespace {

struct Builder {
  Backend& be;
  const ModelOptions& opt;
  uint64_t next_stream = 0;  // distinct Philox stream per initialised tensor / dropout layer

  std::unique_ptr<Layer> make(const LayerSpec& s, const std::string& default_name, Shape& shape) {
    const std::string given = s.params.count("name") ? s.get_str("name") : std::string();
    const std::string name = given.empty() ? default_name : given;
    const DType dt = layer_compute_dtype(opt.compute, opt.fp32_layers, s, name);
    std::unique_ptr<Layer> layer;
    if (s.type == "linear") {
      auto l = std::make_unique<Linear>(s.get_int("out"), s.get_bool("bias"), s.get_str("init"),
                                        s.get_float("init_std"));
      l->configure(name, s.type, dt, s.where);
      shape = l->infer(shape);
      l->create_params(be, opt.master_fp32, opt.seed, ++next_stream);
      return l;
    }
    if (s.type == "layernorm") {
      auto l = std::make_unique<LayerNorm>(s.get_float("eps"), s.get_bool("affine"));
      l->configure(name, s.type, dt, s.where);
      shape = l->infer(shape);
      l->create_params(be, opt.master_fp32);
      return l;
    }
    if (s.type == "conv2d") {
      Conv2dOptions o{s.get_int("out"),     s.get_int("kernel"), s.get_int("stride"),
                      s.get_int("padding"), s.get_int("dilation"), s.get_int("groups"),
                      s.get_bool("bias"),   s.get_str("init"),   s.get_float("init_std")};
      auto l = std::make_unique<Conv2d>(std::move(o));
      l->configure(name, s.type, dt, s.where);
      shape = l->infer(shape);
      l->create_params(be, opt.master_fp32, opt.seed, ++next_stream);
      return l;
    }
    if (s.type == "group_norm") {
      auto l = std::make_unique<GroupNorm>(s.get_int("groups"), s.get_float("eps"),
                                           s.get_bool("affine"));
      l->configure(name, s.type, dt, s.where);
      shape = l->infer(shape);
      l->create_params(be, opt.master_fp32);
      return l;
    }
    if (s.type == "residual" || s.type == "sequential") {
      std::unique_ptr<Layer> c;
      Sequential* body;
      if (s.type == "residual") {
        auto r = std::make_unique<Residual>();
        body = &r->body();
        c = std::move(r);
      } else {
        auto q = std::make_unique<Sequential>();
        body = q.get();
        c = std::move(q);
      }
      c->configure(name, s.type, dt, s.where);
      body->configure(name, "sequential", dt, s.where);
      Shape inner = shape;
      for (size_t i = 0; i < s.children.size(); ++i)
        body->add(make(s.children[i], name + "." + std::to_string(i), inner));
      shape = c->infer(shape);
      return c;
    }
    if (s.type == "dropout") layer = std::make_unique<Dropout>(s.get_float("p"), ++next_stream);
    else if (s.type == "flatten") layer = std::make_unique<Flatten>();
    else if (s.type == "relu") layer = std::make_unique<Activation>(Act::Relu);
    else if (s.type == "gelu")
      layer = std::make_unique<Activation>(s.get_str("approximate") == "tanh" ? Act::GeluTanh
                                                                              : Act::GeluExact);
    else if (s.type == "tanh") layer = std::make_unique<Activation>(Act::Tanh);
    else if (s.type == "sigmoid") layer = std::make_unique<Activation>(Act::Sigmoid);
    else if (s.type == "silu") layer = std::make_unique<Activation>(Act::Silu);
    else if (s.type == "max_pool2d" || s.type == "avg_pool2d")
      layer = std::make_unique<Pool2d>(s.type == "max_pool2d" ? PoolKind::Max : PoolKind::Avg,
                                       s.get_int("kernel"), s.get_int("stride"), s.get_int("padding"));
    else if (s.type == "global_avg_pool")
      layer = std::make_unique<Pool2d>(PoolKind::GlobalAvg, 1, 1, 0);
    else
      throw ConfigError(s.where + ": model.layers: layer type \"" + s.type +
                        "\" is in the catalog but has no implementation yet");
    layer->configure(name, s.type, dt, s.where);
    shape = layer->infer(shape);
    return layer;
  }
};

}  // namespace

std::unique_ptr<Model> Model::build(Backend& be, const std::vector<LayerSpec>& layers,
                                    const Shape& sample_shape, const ModelOptions& opt) {
  if (layers.empty()) throw ConfigError("model.layers: expected at least one layer, got none");
  auto m = std::make_unique<Model>();
  m->input_shape_ = sample_shape;
  m->root_.configure("layers", "sequential", opt.compute, "");
  Builder b{be, opt};
  Shape shape = sample_shape;
  for (size_t i = 0; i < layers.size(); ++i)
    m->root_.add(b.make(layers[i], "layers." + std::to_string(i), shape));
  m->root_.infer(sample_shape);
  m->root_.set_need_input_grad(opt.need_input_grad);
  m->root_.collect_params(m->params_);
  for (size_t i = 0; i < m->params_.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (m->params_[i]->name == m->params_[j]->name)
        throw ConfigError("model.layers: two parameters are named \"" + m->params_[i]->name +
                          "\"; give the layers distinct `name`s");
  return m;
}

const Tensor& Model::forward(Context& ctx, const Tensor& x) {
  if (x.shape().size() == input_shape_.size() + 1 &&
      std::equal(input_shape_.begin(), input_shape_.end(), x.shape().begin() + 1))
    return root_.forward(ctx, x);
  MP_CHECK(x.shape().size() >= 1 && x.numel() == x.dim(0) * shape_numel(input_shape_),
           "Model::forward: input " + x.describe() + " does not have " +
               std::to_string(shape_numel(input_shape_)) + " values per sample for input shape " +
               shape_str(input_shape_));
  x_view_ = x.reshape(batch_shape(x.dim(0), input_shape_));
  return root_.forward(ctx, x_view_);
}

Parameter* Model::find_param(const std::string& name) const {
  for (Parameter* p : params_)
    if (p->name == name) return p;
  return nullptr;
}

int64_t Model::num_params() const {
  int64_t n = 0;
  for (const Parameter* p : params_) n += p->master.numel();
  return n;
}

std::vector<LayerRow> Model::summary() {
  std::vector<LayerRow> rows;
  auto visit = [&](auto&& self, Layer* l, int depth) -> void {
    LayerRow r;
    r.name = l->name();
    r.type = l->type();
    r.depth = depth;
    r.out_shape = l->out_shape();
    r.dtype = l->dtype();
    ParamList ps;
    l->collect_params(ps);
    for (const Parameter* p : ps) r.params += p->master.numel();
    const auto kids = l->children();
    if (kids.empty()) r.activation_elems = shape_numel(r.out_shape);
    r.saved_bytes = l->saved_bytes_per_sample();
    rows.push_back(r);
    for (Layer* c : kids) self(self, c, depth + 1);
  };
  for (Layer* l : root_.children()) visit(visit, l, 0);
  return rows;
}


}  // namespace mp
