// config_layers.cpp: model.layers against the layer catalog: item forms, defaults filled,
// containers, `where`, and every kind of layer error.
#include "config_test_util.h"

using namespace mp;
using mp::test::error_of;
using mp::test::load_text;

namespace {
std::string spec_with(const std::string& layers) {
  return "data: {file: d.h5}\nmodel:\n  layers:\n" + layers;
}
}  // namespace

TEST_CASE("bare types and one-key maps, every param filled") {
  const RunSpec s = load_text(spec_with("    - flatten\n"
                                        "    - linear: {out: 512}\n"
                                        "    - gelu: {approximate: none}\n"
                                        "    - dropout:\n"
                                        "    - layernorm: {eps: 1e-6, affine: false, name: ln1}\n"
                                        "    - linear: {out: 10, bias: false, precision: fp32}\n"));
  const auto& L = s.model.layers;
  REQUIRE(L.size() == 6);
  CHECK(L[0].type == "flatten");
  CHECK(L[0].get_str("name") == "");
  CHECK(L[0].get_str("precision") == "auto");
  CHECK(L[1].get_int("out") == 512);
  CHECK(L[1].get_bool("bias"));
  CHECK(L[1].get_str("init") == "kaiming_uniform");
  CHECK(L[1].get_float("init_std") == 0.02);
  CHECK(L[2].get_str("approximate") == "none");
  CHECK(L[3].get_float("p") == 0.1);
  CHECK(L[4].get_float("eps") == 1e-6);
  CHECK_FALSE(L[4].get_bool("affine"));
  CHECK(L[4].get_str("name") == "ln1");
  CHECK_FALSE(L[5].get_bool("bias"));
  CHECK(L[5].get_str("precision") == "fp32");
  // Every param of the catalog is present, so the model builder never needs a default.
  for (const auto& l : L) {
    const LayerDesc* d = find_layer_desc(l.type);
    REQUIRE(d);
    for (const auto& p : d->params) CHECK(l.params.count(p.name) == 1);
    for (const auto& p : common_layer_params()) CHECK(l.params.count(p.name) == 1);
  }
  CHECK(L[0].where == "t.yaml:4:7");
  CHECK(L[5].where == "t.yaml:9:7");
}

TEST_CASE("a float param accepts an integer; an int param rejects a fraction") {
  const RunSpec s = load_text(spec_with("    - linear: {out: 4, init_std: 1}\n"));
  CHECK(s.model.layers[0].get_float("init_std") == 1.0);
  CHECK(error_of(spec_with("    - linear: {out: 4.5}\n")) ==
        "t.yaml:4:21: model.layers.0.linear.out: expected an integer >= 1, got \"4.5\" (not a whole "
        "number)");
}

TEST_CASE("containers hold lists of layers, nested") {
  const RunSpec s = load_text(spec_with("    - residual:\n"
                                        "        - linear: {out: 8}\n"
                                        "        - sequential: [relu, {linear: {out: 8}}]\n"
                                        "    - sequential: [tanh]\n"));
  const auto& L = s.model.layers;
  REQUIRE(L.size() == 2);
  CHECK(L[0].type == "residual");
  REQUIRE(L[0].children.size() == 2);
  CHECK(L[0].children[0].get_int("out") == 8);
  CHECK(L[0].children[0].where == "t.yaml:5:11");
  REQUIRE(L[0].children[1].children.size() == 2);
  CHECK(L[0].children[1].children[1].get_int("out") == 8);
  CHECK(L[1].children[0].type == "tanh");
}

TEST_CASE("layer errors") {
  // The known types are the catalog's, in its order (each issue adds its own at the end).
  std::string known;
  for (const LayerDesc& d : layer_catalog()) known += (known.empty() ? "" : ", ") + d.type;
  CHECK(known.rfind("linear, relu, gelu, tanh, sigmoid, silu, dropout, layernorm, flatten, ", 0) == 0);
  CHECK(error_of(spec_with("    - linaer: {out: 3}\n")) ==
        "t.yaml:4:7: model.layers.0: unknown layer type \"linaer\" (did you mean \"linear\"?); "
        "known: " + known);
  CHECK(error_of(spec_with("    - Relu\n")).find("unknown layer type \"Relu\" (did you mean \"relu\"?)") != std::string::npos);
  CHECK(error_of(spec_with("    - linear: {out: 3, bais: true}\n")) ==
        "t.yaml:4:24: model.layers.0.linear.bais: unknown parameter of linear (did you mean "
        "\"bias\"?); linear takes: out, bias, init, init_std, name, precision");
  CHECK(error_of(spec_with("    - linear\n")) ==
        "t.yaml:4:7: model.layers.0.linear: missing required parameter \"out\" (output features), "
        "like - linear: {out: 512}");
  CHECK(error_of(spec_with("    - linear: {}\n")).find("missing required parameter \"out\"") != std::string::npos);
  CHECK(error_of(spec_with("    - linear: {out: 0}\n")).find("model.layers.0.linear.out: expected an integer >= 1, got \"0\"") != std::string::npos);
  CHECK(error_of(spec_with("    - linear: {out: big}\n")).find("expected an integer >= 1, got \"big\"") != std::string::npos);
  CHECK(error_of(spec_with("    - linear: {out: 3, bias: 1}\n")).find("linear.bias: expected true or false, got \"1\"") != std::string::npos);
  CHECK(error_of(spec_with("    - linear: {out: 3, init: he}\n")).find("linear.init: expected one of kaiming_uniform|") != std::string::npos);
  CHECK(error_of(spec_with("    - dropout: {p: 1}\n")).find("dropout.p: expected a number in [0, 1), got \"1\"") != std::string::npos);
  CHECK(error_of(spec_with("    - dropout: {p: .nan}\n")).find("must be a finite number") != std::string::npos);
  CHECK(error_of(spec_with("    - layernorm: {eps: 0}\n")).find("layernorm.eps: expected a number in [1e-12, 1]") != std::string::npos);
  CHECK(error_of(spec_with("    - relu: {precision: fp16}\n")).find("relu.precision: expected one of auto|fp32") != std::string::npos);
  CHECK(error_of(spec_with("    - relu: 3\n")).find("model.layers.0.relu: expected a map of parameters, like - relu: {name: relu1}, got \"3\"") != std::string::npos);
  CHECK(error_of(spec_with("    - residual: relu\n")).find("model.layers.0.residual: expected a list of layers, got \"relu\"") != std::string::npos);
  CHECK(error_of(spec_with("    - residual: {out: 3}\n")).find("expected a list of layers, got a map") != std::string::npos);
  CHECK(error_of(spec_with("    - residual:\n")).find("model.layers.0.residual: expected a list of layers, got an empty value") != std::string::npos);
  CHECK(error_of(spec_with("    - residual: []\n")).find("expected a non-empty list of layers") != std::string::npos);
  CHECK(error_of(spec_with("    - residual: [linear]\n")).find("model.layers.0.residual.0.linear: missing required parameter") != std::string::npos);
  CHECK(error_of(spec_with("    - linear:\n      out: 5\n")).find("model.layers.0: expected one layer per item, got a map with 2 keys (linear, out)") != std::string::npos);
  CHECK(error_of(spec_with("    - [relu]\n")).find("model.layers.0: expected a layer, got a list") != std::string::npos);
  CHECK(error_of("data: {file: d.h5}\nmodel: {layers: relu}").find("model.layers: expected a list of layers, got \"relu\"") != std::string::npos);
  std::string deep = "[relu]";
  for (int i = 0; i < 20; ++i) deep = "[{sequential: " + deep + "}]";
  CHECK(error_of("data: {file: d.h5}\nmodel: {layers: " + deep + "}").find("containers nested more than 16 deep") != std::string::npos);
}
