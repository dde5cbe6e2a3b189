#include "nn/model.h"

#include <algorithm>

#include "nn/activation.h"
#include "nn/attention.h"
#include "nn/conv2d.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/flatten.h"
#include "nn/group_norm.h"
#include "nn/layer_dtype.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/linear_fusion.h"
#include "nn/positional_embedding.h"
#include "nn/pool2d.h"

namespace mp {

namespace {

struct Builder {
  Backend& be;
  const ModelOptions& opt;
  uint64_t next_stream = 0;  // distinct Philox stream per initialised tensor / dropout layer
  std::vector<Embedding*> embeddings = {};  // built so far, in order (lm_head's tie targets)

  // The embedding an lm_head with tie: true shares: the one named tie_to, else the first; its
  // table must be [vocab, in] in the head's dtype.
  Embedding& tie_target(const LayerSpec& s, int64_t in, DType dt) {
    const std::string& to = s.get_str("tie_to");
    Embedding* e = nullptr;
    for (Embedding* c : embeddings)
      if (to.empty() || c->name() == to) {
        e = c;
        break;
      }
    const std::string what = to.empty() ? std::string("an embedding layer")
                                        : "the embedding named \"" + to + "\"";
    if (!e)
      throw ConfigError(s.where + ": lm_head: tie: true needs " + what + " before it in " +
                        "model.layers; add one, or set tie: false");
    if (e->vocab() != s.get_int("vocab") || e->dim() != in)
      throw ConfigError(s.where + ": lm_head: tie: true needs a [vocab, dim] table of [" +
                        std::to_string(s.get_int("vocab")) + ", " + std::to_string(in) +
                        "], but embedding " + e->name() + " has [" + std::to_string(e->vocab()) +
                        ", " + std::to_string(e->dim()) + "]; make vocab and dim match");
    if (e->dtype() != dt)
      throw ConfigError(s.where + ": lm_head: tie: true shares embedding " + e->name() +
                        "'s weight, which computes in " + std::string(dtype_name(e->dtype())) +
                        " while this layer computes in " + std::string(dtype_name(dt)) +
                        "; give both the same precision (precision / fp32_layers)");
    return *e;
  }

  // The layer configured and placed after `shape`, which becomes its output shape.
  template <class L>
  std::unique_ptr<L> place(std::unique_ptr<L> l, const std::string& name, const LayerSpec& s,
                           DType dt, Shape& shape) {
    l->configure(name, s.type, dt, s.where);
    shape = l->infer(shape);
    return l;
  }
  // ... with its parameters created and initialised from a Philox stream of their own.
  template <class L> std::unique_ptr<L> with_params(std::unique_ptr<L> l) {
    l->create_params(be, opt.master_fp32, opt.seed, ++next_stream);
    return l;
  }

  std::unique_ptr<Layer> make(const LayerSpec& s, const std::string& default_name, Shape& shape) {
    const std::string given = s.params.count("name") ? s.get_str("name") : std::string();
    const std::string name = given.empty() ? default_name : given;
    const DType dt = layer_compute_dtype(opt.compute, opt.fp32_layers, s, name);
    std::unique_ptr<Layer> layer;
    if (s.type == "linear")
      return with_params(place(std::make_unique<Linear>(s.get_int("out"), s.get_bool("bias"),
                                                        s.get_str("init"), s.get_float("init_std")),
                               name, s, dt, shape));
    if (s.type == "embedding") {
      auto l = with_params(place(std::make_unique<Embedding>(s.get_int("vocab"), s.get_int("dim"),
                                                             s.get_str("init"), s.get_float("init_std")),
                                 name, s, dt, shape));
      embeddings.push_back(l.get());
      return l;
    }
    if (s.type == "positional_embedding")
      return with_params(place(std::make_unique<PositionalEmbedding>(s.get_int("max_len"), "normal",
                                                                     s.get_float("init_std")),
                               name, s, dt, shape));
    if (s.type == "lm_head") {
      if (!s.get_bool("tie") && !s.get_str("tie_to").empty())
        throw ConfigError(s.where + ": lm_head: tie_to is set but tie is false; set tie: true to "
                          "share the embedding's weight, or drop tie_to");
      const int64_t in = shape.empty() ? 0 : shape.back();
      auto l = place(std::make_unique<Linear>(s.get_int("vocab"), s.get_bool("bias"), "normal",
                                              s.get_float("init_std")),
                     name, s, dt, shape);
      if (s.get_bool("tie")) l->tie_weight(tie_target(s, in, dt).weight());
      return with_params(std::move(l));
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
    if (s.type == "causal_self_attention") {
      auto l = std::make_unique<CausalSelfAttention>(s.get_int("heads"), s.get_float("dropout"),
                                                     s.get_bool("bias"), ++next_stream,
                                                     parse_attention_path(s.get_str("attention")));
      l->configure(name, s.type, dt, s.where);
      shape = l->infer(shape);
      const uint64_t qkv_stream = ++next_stream;
      l->create_params(be, opt.master_fp32, opt.seed, qkv_stream, ++next_stream);
      return l;
    }
    if (s.type == "transformer_block") return transformer_block(s, name, dt, shape);
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

  // A part of a composite: `type` with its defaults, the given params, the parent's name prefix,
  // `precision` and place in the spec (so fp32 overrides and errors carry over).
  static LayerSpec part(const LayerSpec& parent, const std::string& type, const std::string& name,
                        std::map<std::string, ParamValue> kv = {}) {
    LayerSpec p = default_layer_spec(type);
    for (auto& [k, v] : kv) p.params[k] = std::move(v);
    p.params["name"] = name;
    if (parent.params.count("precision")) p.params["precision"] = parent.params.at("precision");
    p.where = parent.where;
    return p;
  }

  // transformer_block: built from existing layers, so its gradient is theirs (pre-norm GPT):
  //   residual[layernorm, causal_self_attention, dropout?],
  //   residual[layernorm, linear(mlp_ratio C), gelu(tanh), linear(C), dropout?]
  std::unique_ptr<Layer> transformer_block(const LayerSpec& s, const std::string& name, DType dt,
                                           Shape& shape) {
    if (shape.empty())
      throw ConfigError(s.where + ": transformer_block: expected a per-sample input [T, C], got a "
                        "scalar");
    const int64_t C = shape.back();
    const double drop = s.get_float("dropout");
    const ParamValue eps = s.get_float("eps");
    LayerSpec attn = part(s, "residual", name + ".attn_res");
    attn.children.push_back(part(s, "layernorm", name + ".ln1", {{"eps", eps}}));
    attn.children.push_back(part(s, "causal_self_attention", name + ".attn",
                                 {{"heads", s.get_int("heads")},
                                  {"dropout", drop},
                                  {"attention", s.get_str("attention")}}));
    LayerSpec mlp = part(s, "residual", name + ".mlp_res");
    mlp.children.push_back(part(s, "layernorm", name + ".ln2", {{"eps", eps}}));
    mlp.children.push_back(
        part(s, "linear", name + ".mlp.fc", {{"out", s.get_int("mlp_ratio") * C}}));
    mlp.children.push_back(part(s, "gelu", name + ".mlp.gelu"));
    mlp.children.push_back(part(s, "linear", name + ".mlp.proj", {{"out", C}}));
    if (drop > 0) {
      attn.children.push_back(part(s, "dropout", name + ".attn_drop", {{"p", drop}}));
      mlp.children.push_back(part(s, "dropout", name + ".mlp_drop", {{"p", drop}}));
    }
    auto block = std::make_unique<Sequential>();
    block->configure(name, s.type, dt, s.where);
    const Shape in = shape;
    block->add(make(attn, name + ".attn_res", shape));
    block->add(make(mlp, name + ".mlp_res", shape));
    shape = block->infer(in);
    return block;
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
  if (opt.fuse_linear_gelu) m->linear_gelu_links_ = fuse_linear_gelu(m->root_);
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

ParamList Model::trainable_params() const {
  ParamList out;
  for (Parameter* p : params_)
    if (p->trainable()) out.push_back(p);
  return out;
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
    if (kids.empty()) r.activation_elems = l->activation_elems();
    r.saved_bytes = l->saved_bytes_per_sample();
    rows.push_back(r);
    for (Layer* c : kids) self(self, c, depth + 1);
  };
  for (Layer* l : root_.children()) visit(visit, l, 0);
  return rows;
}

void Model::visit_layers(const std::function<void(Layer&)>& f) {
  auto visit = [&](auto&& self, Layer* l) -> void {
    f(*l);
    for (Layer* c : l->children()) self(self, c);
  };
  for (Layer* l : root_.children()) visit(visit, l);
}

void Model::raise_deferred(const StepStats& s) {
  visit_layers([&](Layer& l) { l.raise_deferred(s); });
}

}  // namespace mp
