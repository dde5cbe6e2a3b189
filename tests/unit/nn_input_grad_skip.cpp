// nn_input_grad_skip.cpp: a model's input gradient is not computed when nobody needs it, and the
// saving reaches past leading layers without parameters: in [flatten, dropout, linear, relu,
// linear] the first linear skips its input-gradient GEMM (the quickstart MLP starts with flatten),
// while every parameter gradient stays bit-identical to a model that computes the input gradient.
#include <doctest/doctest.h>

#include <vector>

#include "nn/model.h"

using namespace mp;

namespace {

LayerSpec spec(const std::string& type, std::map<std::string, ParamValue> kv = {}) {
  LayerSpec s = default_layer_spec(type);
  for (auto& [k, v] : kv) s.params[k] = v;
  s.where = "test";
  return s;
}

struct Grads {
  std::vector<std::vector<float>> g;
  bool input_grad_defined = false;
};

Grads run(bool need_input_grad, const std::vector<LayerSpec>& layers) {
  auto be = make_cpu_backend(1);
  ModelOptions opt;
  opt.seed = 3;
  opt.need_input_grad = need_input_grad;
  auto m = Model::build(*be, layers, {2, 6}, opt);
  std::vector<float> xv(4 * 12), dyv(4 * 5);
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = float(int(i % 7) - 3) * 0.25f;
  for (size_t i = 0; i < dyv.size(); ++i) dyv[i] = float(int(i % 5) - 2) * 0.5f;
  Tensor x = from_host_floats(*be, xv, {4, 2, 6}, DType::F32);
  Tensor dy = from_host_floats(*be, dyv, {4, 5}, DType::F32);
  for (Parameter* p : m->params()) be->fill(p->grad, 0.0f);
  Context ctx{*be, true, 1, 0};
  m->forward(ctx, x);
  Grads out;
  out.input_grad_defined = m->backward(ctx, dy).defined();
  for (Parameter* p : m->params()) out.g.push_back(to_host_floats(*be, p->grad));
  return out;
}

}  // namespace

TEST_CASE("leading parameter-free layers pass 'input gradient not needed' on to the first linear") {
  const std::vector<LayerSpec> layers = {spec("flatten"), spec("dropout", {{"p", 0.0}}),
                                         spec("linear", {{"out", 8}}), spec("relu"),
                                         spec("linear", {{"out", 5}})};
  const Grads skip = run(false, layers), full = run(true, layers);
  CHECK_FALSE(skip.input_grad_defined);  // the first linear computed no dx, and backward stopped
  CHECK(full.input_grad_defined);
  REQUIRE(skip.g.size() == full.g.size());
  for (size_t i = 0; i < skip.g.size(); ++i) CHECK(skip.g[i] == full.g[i]);
}
