// config_overrides.cpp: --set KEY=VALUE: applied after the file, checked like the file, errors
// naming the --set.
#include "config_test_util.h"

using namespace mp;
using mp::test::error_of;
using mp::test::kMinimal;
using mp::test::load_text;

TEST_CASE("overrides replace file values and are checked like them") {
  const RunSpec s = load_text(std::string(kMinimal) + "optimizer: {lr: 0.1}\n",
                              {"optimizer.lr=3e-4", "precision.policy=fp16", "train.accum_steps=4",
                               "name=over", "data.train.x=/a/x", "model.input_shape=[28, 28]",
                               "precision.fp32_layers=[head]", "data.shuffle=false"});
  CHECK(s.optimizer.lr == 3e-4);
  CHECK(s.precision.policy == "fp16");
  CHECK(s.precision.loss_scale.mode == "dynamic");  // resolved after the override
  CHECK(s.train.accum_steps == 4);
  CHECK(s.name == "over");
  CHECK(s.data.train.x == "/a/x");
  CHECK(s.model.input_shape == std::vector<int64_t>{28, 28});
  CHECK(s.precision.fp32_layers == std::vector<std::string>{"head"});
  CHECK_FALSE(s.data.shuffle);
}

TEST_CASE("later overrides win; whole sections as flow maps; absent sections are created") {
  const RunSpec s = load_text(kMinimal, {"optimizer.lr=1", "optimizer.lr=2",
                                         "precision.loss_scale={mode: static, value: 128}",
                                         "schedule.type=step"});
  CHECK(s.optimizer.lr == 2);
  CHECK(s.precision.loss_scale.mode == "static");
  CHECK(s.precision.loss_scale.value == 128);
  CHECK(s.schedule.type == "step");
}

TEST_CASE("overrides into model.layers by index") {
  const std::string text = "data: {file: d.h5}\nmodel:\n  layers: [flatten, {linear: {out: 512}}, relu, linear]\n";
  const RunSpec s = load_text(text, {"model.layers.1.linear.out=256", "model.layers.2=gelu",
                                     "model.layers.3.linear.out=10"});
  REQUIRE(s.model.layers.size() == 4);
  CHECK(s.model.layers[1].get_int("out") == 256);
  CHECK(s.model.layers[2].type == "gelu");
  CHECK(s.model.layers[3].get_int("out") == 10);  // a bare `linear` given a param
  const RunSpec t = load_text(text, {"model.layers=[flatten, {linear: {out: 3}}]"});
  CHECK(t.model.layers.size() == 2);
}

TEST_CASE("override errors name --set KEY") {
  const std::string base = kMinimal;
  CHECK(error_of(base, {"optimizer.lrr=1"}) ==
        "--set optimizer.lrr: unknown key (did you mean \"optimizer.lr\"?); mptrain "
        "--print-reference lists every key");
  CHECK(error_of(base, {"optimizer.lr=fast"}) ==
        "--set optimizer.lr: expected a positive number, got \"fast\"");
  CHECK(error_of(base, {"train.accum_steps=2.5"}) ==
        "--set train.accum_steps: expected an integer >= 1, got \"2.5\" (not a whole number)");
  CHECK(error_of(base, {"optimizer.lr=[1"}) ==
        "--set optimizer.lr: cannot parse the value \"[1\" as YAML: end of sequence flow not found");
  CHECK(error_of(base, {"optimizer.lr"}) ==
        "--set optimizer.lr: expected KEY=VALUE, like --set optimizer.lr=3e-4");
  CHECK(error_of(base, {"=3"}).find("expected KEY=VALUE") != std::string::npos);
  CHECK(error_of(base, {"optimizer..lr=3"}).find("got an empty component") != std::string::npos);
  CHECK(error_of(base, {"optimizer.lr.x=3"}) ==
        "--set optimizer.lr.x: optimizer.lr is a number, it has no keys inside");
  CHECK(error_of(base, {"precision.loss_scale={mode: bogus}"}) ==
        "--set precision.loss_scale: precision.loss_scale.mode: expected one of "
        "auto|dynamic|static|none, got \"bogus\"");
  CHECK(error_of(base, {"optimizer={lr: 1, lr: 2}"}).find("--set optimizer: optimizer.lr: duplicate key") == 0);
  CHECK(error_of(base, {"precision=fp16"}).find("--set precision: expected a map of keys") == 0);
  CHECK(error_of(base, {"optimizer.lr="}) ==
        "--set optimizer.lr: expected a positive number, got an empty value");
  CHECK(error_of(base, {"model.layers.5.linear.out=3"}) ==
        "--set model.layers.5.linear.out: model.layers has 1 item, so the index must be below 1");
  CHECK(error_of(base, {"model.layers.0.relu.x=3"}) ==
        "--set model.layers.0.relu.x: unknown parameter of relu; relu takes: name, precision");
  CHECK(error_of(base, {"model.layers.0=linaer"}).find("--set model.layers.0: unknown layer type \"linaer\" (did you mean \"linear\"?)") == 0);
  // An error elsewhere in the file still points into the file.
  CHECK(error_of(base + "optimizer: {lr: fast}", {"precision.policy=bf16"}).find("t.yaml:4:17: optimizer.lr:") == 0);
}
