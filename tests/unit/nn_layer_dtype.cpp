// nn_layer_dtype.cpp: the per-layer precision rule (nn/layer_dtype.h), which the model builder
// applies to every layer: the layer's own `precision: fp32`, or its name (given, or positional
// "layers.N") in the fp32 layer set, keeps it in fp32; otherwise it computes in the policy's dtype.
#include <doctest/doctest.h>

#include "nn/layer_dtype.h"
#include "nn/model.h"

using namespace mp;

namespace {

LayerSpec layer(const std::string& type, const std::string& precision) {
  LayerSpec s = default_layer_spec(type);
  s.params["precision"] = precision;
  s.where = "test";
  return s;
}

}  // namespace

TEST_CASE("per-layer compute dtype: fp32_layers and the layer's precision param") {
  const std::vector<std::string> fp32 = {"head", "embed"};
  CHECK(layer_compute_dtype(DType::BF16, fp32, layer("linear", "auto"), "head") == DType::F32);
  CHECK(layer_compute_dtype(DType::BF16, fp32, layer("linear", "auto"), "embed") == DType::F32);
  CHECK(layer_compute_dtype(DType::BF16, fp32, layer("linear", "auto"), "layers.2") == DType::BF16);
  CHECK(layer_compute_dtype(DType::BF16, fp32, layer("linear", "fp32"), "layers.2") == DType::F32);
  CHECK(layer_compute_dtype(DType::F16, fp32, layer("relu", "fp32"), "x") == DType::F32);
  CHECK(layer_compute_dtype(DType::F16, fp32, layer("relu", "auto"), "x") == DType::F16);
  CHECK(layer_compute_dtype(DType::BF16, fp32, layer("linear", "auto"), "") == DType::BF16);
  CHECK(layer_compute_dtype(DType::BF16, {""}, layer("linear", "auto"), "") == DType::BF16);
  // A spec built in code without the parameter: the name rule alone.
  LayerSpec bare;
  bare.type = "relu";
  CHECK(layer_compute_dtype(DType::BF16, fp32, bare, "head") == DType::F32);
  CHECK(layer_compute_dtype(DType::BF16, fp32, bare, "tail") == DType::BF16);
  // fp32 policy: everything fp32 regardless.
  CHECK(layer_compute_dtype(DType::F32, {}, layer("linear", "auto"), "x") == DType::F32);
}

TEST_CASE("the builder applies the rule by given and by positional name, nested layers too") {
  auto be = make_cpu_backend(1);
  LayerSpec head = default_layer_spec("linear");
  head.params["out"] = int64_t{3};
  head.params["name"] = std::string("head");
  LayerSpec l0 = default_layer_spec("linear");
  l0.params["out"] = int64_t{4};
  LayerSpec own = default_layer_spec("linear");
  own.params["out"] = int64_t{4};
  own.params["precision"] = std::string("fp32");
  LayerSpec block = default_layer_spec("sequential");
  block.children = {default_layer_spec("relu"), default_layer_spec("tanh")};
  for (LayerSpec* s : {&head, &l0, &own, &block}) s->where = "test";
  ModelOptions opt;
  opt.compute = DType::BF16;
  opt.fp32_layers = {"head", "layers.1", "layers.3.0"};
  auto m = Model::build(*be, {l0, own, default_layer_spec("relu"), block, head}, {5}, opt);
  std::map<std::string, DType> dt;
  for (const LayerRow& r : m->summary()) dt[r.name] = r.dtype;
  CHECK(dt.at("layers.0") == DType::BF16);
  CHECK(dt.at("layers.1") == DType::F32);    // positional name in the set (and own fp32)
  CHECK(dt.at("layers.2") == DType::BF16);
  CHECK(dt.at("layers.3.0") == DType::F32);  // a nested layer's positional name
  CHECK(dt.at("layers.3.1") == DType::BF16);
  CHECK(dt.at("head") == DType::F32);        // given name in the set
  CHECK(m->find_param("head.weight")->working.dtype() == DType::F32);
  CHECK(m->find_param("layers.0.weight")->working.dtype() == DType::BF16);
}
