// config_dump.cpp: the resolved dump: canonical layout, shortest numbers, quoting, and the round
// trip load(dump(spec)) -> identical text on several specs, overrides included.
#include <filesystem>

#include "config/spec_dump.h"
#include "config/yaml_text.h"
#include "config_test_util.h"

using namespace mp;
using mp::test::kMinimal;
using mp::test::load_text;

namespace {

// Dumps, reloads the dump and dumps again: both texts must be identical.
std::string round_trip(const RunSpec& s) {
  const std::string once = dump_spec(s);
  const std::string twice = dump_spec(load_spec_from_string(once, "dump.yaml"));
  CHECK(once == twice);
  return once;
}

}  // namespace

TEST_CASE("numbers are written shortest-round-trip") {
  CHECK(yaml_number(0.001) == "0.001");
  CHECK(yaml_number(1e-8) == "1e-08");
  CHECK(yaml_number(65536) == "65536");
  CHECK(yaml_number(1.0 / 255.0) == "0.00392156862745098");
  CHECK(yaml_number(0.1 + 0.2) == "0.30000000000000004");
}

TEST_CASE("strings are plain when unambiguous, double-quoted otherwise") {
  CHECK(yaml_string("fp16") == "fp16");
  CHECK(yaml_string("/train/x") == "/train/x");
  CHECK(yaml_string("datasets/mnist/mnist.h5") == "datasets/mnist/mnist.h5");
  CHECK(yaml_string("") == "\"\"");
  CHECK(yaml_string("runs/{name}") == "\"runs/{name}\"");
  CHECK(yaml_string("true") == "\"true\"");
  CHECK(yaml_string("No") == "\"No\"");
  CHECK(yaml_string("123") == "\"123\"");
  CHECK(yaml_string("-x") == "\"-x\"");
  CHECK(yaml_string("a b") == "\"a b\"");
  CHECK(yaml_string("a: b") == "\"a: b\"");
  CHECK(yaml_string("say \"hi\"\\") == "\"say \\\"hi\\\"\\\\\"");
  CHECK(yaml_string("tab\there") == "\"tab\\there\"");
}

TEST_CASE("the dump lists every key in schema order with layers in flow style") {
  const std::string d = round_trip(load_text("model:\n  layers: [flatten, {linear: {out: 512}}]\n"
                                             "precision: {policy: fp16}\n"
                                             "optimizer: {eps: 1e-8}\n"
                                             "data: {file: d.h5}\n"));
  CHECK(d.find("    - linear: {out: 512, bias: true, init: kaiming_uniform, init_std: 0.02, name: "
               "\"\", precision: auto}\n") != std::string::npos);
  CHECK(d.find("    - flatten: {name: \"\", precision: auto}\n") != std::string::npos);
  CHECK(d.find("  loss_scale:\n    mode: dynamic\n") != std::string::npos);  // auto resolved
  CHECK(d.find("  eps: 1e-08\n") != std::string::npos);
  CHECK(d.find("  dir: \"runs/{name}\"\n") != std::string::npos);
  CHECK(d.find("debug:\n  inject_nonfinite_grad_steps: []\n") != std::string::npos);
  // Schema order: sections in the order of the struct.
  const char* order[] = {"\nname:", "\nseed:", "\ndata:", "\nmodel:", "\nprecision:", "\noptimizer:",
                         "\nschedule:", "\ntrain:", "\noutput:", "\ndebug:"};
  size_t last = 0;
  for (const char* key : order) {
    const size_t at = d.find(key);
    REQUIRE(at != std::string::npos);
    CHECK(at > last);
    last = at;
  }
}

TEST_CASE("round trip on several specs, overrides included") {
  round_trip(load_spec(MPTRAIN_SOURCE_DIR "/configs/mnist_mlp.yaml"));
  round_trip(load_spec(MPTRAIN_SOURCE_DIR "/configs/mnist_mlp.yaml",
                       {"precision.policy=bf16", "train.accum_steps=4", "optimizer.lr=3e-4",
                        "model.layers.1.linear.out=333", "output.dir=runs/{name}_{precision.policy}",
                        "data.input_scale=0.1", "precision.fp32_layers=[head, \"a b\"]"}));
  round_trip(load_text("name: x.y-z_1\nseed: 42\n"
                       "model:\n  input_shape: [3, 4]\n  layers:\n"
                       "    - residual:\n        - layernorm: {eps: 1e-12}\n"
                       "        - sequential: [{linear: {out: 7, init: normal, init_std: 1e-3}}, silu]\n"
                       "    - dropout: {p: 0.3333333333333333}\n"
                       "    - linear: {out: 2, name: \"head: 1\"}\n"
                       "  loss: mse\n"
                       "data: {file: \"d a t a.h5\", val: {x: \"\", y: \"\"}, input_scale: -2.5e-300}\n"
                       "optimizer: {type: sgd, momentum: 0.9, nesterov: true}\n"
                       "precision: {loss_scale: {mode: static, value: 1024}}\n"
                       "debug: {inject_nonfinite_grad_steps: [3, 7]}\n"));
  // A spec built in code is not resolved (loss_scale.mode: auto); its dump loads, and from
  // there the dump is a fixed point.
  RunSpec in_code;
  in_code.data.file = "x.h5";
  in_code.model.layers = load_text(kMinimal).model.layers;
  const RunSpec reloaded = load_spec_from_string(dump_spec(in_code), "code.yaml");
  CHECK(reloaded.precision.loss_scale.mode == "none");
  round_trip(reloaded);
}

TEST_CASE("the quickstart dump is the documented canonical text") {
  const std::string d = dump_spec(load_spec(MPTRAIN_SOURCE_DIR "/configs/mnist_mlp.yaml"));
  CHECK(d.find("name: mnist_mlp\nseed: 0\ndevice: auto\nthreads: 0\ndata:\n"
               "  file: datasets/mnist/mnist.h5\n  train:\n    x: /train/x\n    y: /train/y\n") !=
        std::string::npos);
  CHECK(d.find("  input_scale: 0.00392156862745098\n") != std::string::npos);
  CHECK(d.find("  lr: 0.002\n") != std::string::npos);
  CHECK(d.find("  weight_decay: 0.05\n") != std::string::npos);
}
