// config_output_dir.cpp: output.dir placeholders filled from the resolved spec.
#include "config/output_dir.h"
#include "config_test_util.h"

using namespace mp;
using mp::test::error_of;
using mp::test::kMinimal;
using mp::test::load_text;

TEST_CASE("{name}, {seed} and any {section.key}") {
  RunSpec s = load_text(std::string(kMinimal) + "name: mlp\nseed: 7\n",
                        {"precision.policy=bf16", "train.accum_steps=4", "optimizer.lr=1e-3"});
  CHECK(expand_output_dir(s) == "runs/mlp");
  s.output.dir = "runs/{name}/s{seed}_{precision.policy}_acc{train.accum_steps}_lr{optimizer.lr}";
  CHECK(expand_output_dir(s) == "runs/mlp/s7_bf16_acc4_lr0.001");
  s.output.dir = "{precision.loss_scale.mode}-{data.shuffle}-{data.file}";
  CHECK(expand_output_dir(s) == "none-true-d.h5");
  s.output.dir = "plain/dir";
  CHECK(expand_output_dir(s) == "plain/dir");
}

TEST_CASE("bad placeholders are errors, at load time with the key's position") {
  RunSpec s = load_text(kMinimal);
  s.output.dir = "runs/{nmae}";
  CHECK_THROWS_WITH_AS(expand_output_dir(s),
                       "output.dir: unknown placeholder {nmae} (did you mean \"name\"?); use {name}, "
                       "{seed} or any {section.key}",
                       ConfigError);
  s.output.dir = "runs/{model.layers}";
  CHECK_THROWS_WITH_AS(expand_output_dir(s),
                       "output.dir: placeholder {model.layers} names a list; only single values "
                       "can be placed",
                       ConfigError);
  s.output.dir = "runs/{name";
  CHECK_THROWS_AS(expand_output_dir(s), ConfigError);
  s.output.dir = "runs/name}";
  CHECK_THROWS_AS(expand_output_dir(s), ConfigError);
  CHECK(error_of(std::string(kMinimal) + "output: {dir: \"runs/{bogus}\"}").find("t.yaml:4:15: output.dir: unknown placeholder {bogus}") == 0);
  CHECK(error_of(kMinimal, {"output.dir=runs/{seeed}"}).find("--set output.dir: unknown placeholder {seeed} (did you mean \"seed\"?)") == 0);
}
