// config_loader.cpp: loading run specs: defaults, the quickstart spec, strict errors with
// FILE:LINE:COL and key path, file-level failures.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "config/spec_loader.h"
#include "config_test_util.h"

using namespace mp;
using mp::test::error_of;
using mp::test::kMinimal;
using mp::test::load_text;

TEST_CASE("a minimal spec gets every default of the structs") {
  const RunSpec s = load_text(kMinimal);
  const RunSpec d;
  CHECK(s.name == d.name);
  CHECK(s.data.file == "d.h5");
  CHECK(s.data.batch_size == d.data.batch_size);
  CHECK(s.data.train.x == "/train/x");
  CHECK(s.optimizer.lr == d.optimizer.lr);
  CHECK(s.optimizer.type == "adamw");
  CHECK(s.train.accum_steps == 1);
  CHECK(s.precision.loss_scale.growth_interval == 2000);
  CHECK(s.output.dir == "runs/{name}");
  CHECK(s.source == "t.yaml");
  REQUIRE(s.model.layers.size() == 1);
  CHECK(s.model.layers[0].type == "relu");
}

TEST_CASE("loss-scale ranges are validated by the schema, naming the key") {
  // Moved from precision_loss_scaler.cpp "spec validation names the key": the same cases, now
  // refused when the spec loads (the scaler only asserts them).
  const std::string base = std::string(kMinimal) + "precision:\n  loss_scale: {mode: ";
  CHECK(error_of(base + "dynamic, growth_factor: 1.0}\n").find("precision.loss_scale.growth_factor:") !=
        std::string::npos);
  CHECK(error_of(base + "dynamic, backoff_factor: 1.0}\n").find("precision.loss_scale.backoff_factor:") !=
        std::string::npos);
  CHECK(error_of(base + "dynamic, init: 1e39}\n").find("precision.loss_scale.init:") != std::string::npos);
  CHECK(error_of(base + "static, value: 0.0}\n").find("precision.loss_scale.value:") != std::string::npos);
  CHECK(error_of(base + "none, max_consecutive_skips: 0}\n")
            .find("precision.loss_scale.max_consecutive_skips:") != std::string::npos);
  // Cross-field, for the dynamic mode only (auto = dynamic under fp16).
  CHECK(error_of(std::string(kMinimal) +
                 "precision:\n  policy: fp16\n  loss_scale: {init: 0.5, min_scale: 2}\n") ==
        "t.yaml:6:22: precision.loss_scale.init: expected a value >= "
        "precision.loss_scale.min_scale (2), got 0.5");
  CHECK_NOTHROW(load_text(std::string(kMinimal) + "precision:\n  loss_scale: {init: 0.5, min_scale: 2}\n"));
}

TEST_CASE("loss_scale.mode auto resolves from the policy") {
  CHECK(load_text(kMinimal).precision.loss_scale.mode == "none");
  CHECK(load_text(std::string(kMinimal) + "precision: {policy: fp16}").precision.loss_scale.mode ==
        "dynamic");
  CHECK(load_text(std::string(kMinimal) + "precision: {policy: bf16}").precision.loss_scale.mode ==
        "none");
  CHECK(load_text(std::string(kMinimal) + "precision: {policy: fp16, loss_scale: {mode: static}}")
            .precision.loss_scale.mode == "static");
}

TEST_CASE("the quickstart spec loads with the values of the issue") {
  const RunSpec s = load_spec(MPTRAIN_SOURCE_DIR "/configs/mnist_mlp.yaml");
  CHECK(s.name == "mnist_mlp");
  CHECK(s.data.file == "datasets/mnist/mnist.h5");
  CHECK(s.data.val.y == "/val/y");
  CHECK(s.data.input_scale == 1.0 / 255.0);
  CHECK(s.model.input_shape == std::vector<int64_t>{784});
  REQUIRE(s.model.layers.size() == 6);
  CHECK(s.model.layers[0].type == "flatten");
  CHECK(s.model.layers[1].get_int("out") == 1024);
  CHECK(s.model.layers[5].get_int("out") == 10);
  CHECK(s.precision.policy == "fp32");
  CHECK(s.optimizer.lr == 2e-3);
  CHECK(s.optimizer.weight_decay == 0.05);
  CHECK(s.schedule.type == "cosine");
  CHECK(s.schedule.warmup_steps == 100);
  CHECK(s.train.epochs == 10);
  CHECK(s.data.batch_size == 128);
  CHECK(s.train.eval_every == 0);
  CHECK(s.train.log_every == 50);
  CHECK(s.train.checkpoint_every == 500);
}

TEST_CASE("scalars: YAML 1.2 spellings, integral floats for integers, null sections") {
  const RunSpec s = load_text(std::string(kMinimal) +
                              "optimizer: {lr: +2.5E-4, beta1: .5, momentum: 0}\n"
                              "train: {steps: 1e4, accum_steps: 2.0}\nprecision: {allow_tf32: True}\n"
                              "debug:\n");
  CHECK(s.optimizer.lr == 2.5e-4);
  CHECK(s.optimizer.beta1 == 0.5);
  CHECK(s.train.steps == 10000);
  CHECK(s.train.accum_steps == 2);
  CHECK(s.precision.allow_tf32);
}

TEST_CASE("errors name file:line:col, the key path, what was expected and what was given") {
  const std::string base = kMinimal;
  CHECK(error_of(base + "optimizer:\n  lr: fast\n") ==
        "t.yaml:5:7: optimizer.lr: expected a positive number, got \"fast\"");
  CHECK(error_of(base + "optimizer:\n  lrr: 0.1\n") ==
        "t.yaml:5:3: optimizer.lrr: unknown key (did you mean \"lr\"?); valid in optimizer: type, "
        "lr, weight_decay, beta1, beta2, eps, momentum, nesterov, grad_clip_norm, freeze");
  CHECK(error_of(base + "trian: {epochs: 2}\n").find("t.yaml:4:1: trian: unknown key (did you mean "
                                                    "\"train\"?); valid at the top level: name,") == 0);
  CHECK(error_of(base + "precision: {policy: fp8}\n") ==
        "t.yaml:4:21: precision.policy: expected one of fp32|fp16|bf16|auto, got \"fp8\"");
  CHECK(error_of(base + "precision: {loss_scale: {mode: dynamc}}\n") ==
        "t.yaml:4:32: precision.loss_scale.mode: expected one of auto|dynamic|static|none, got "
        "\"dynamc\" (did you mean \"dynamic\"?)");
}

TEST_CASE("wrong types") {
  const std::string base = kMinimal;
  CHECK(error_of(base + "optimizer: {lr: [1]}").find("optimizer.lr: expected a positive number, got a list") != std::string::npos);
  CHECK(error_of(base + "optimizer: {lr: {a: 1}}").find("got a map") != std::string::npos);
  CHECK(error_of(base + "optimizer: {lr: \"0.1\"}").find("got \"0.1\" (a quoted string; write it without quotes)") != std::string::npos);
  CHECK(error_of(base + "optimizer:\n  lr:\n").find("t.yaml:5:3: optimizer.lr: expected a positive number, got an empty value") == 0);
  CHECK(error_of(base + "precision: {allow_tf32: yes}").find("precision.allow_tf32: expected true or false, got \"yes\"") != std::string::npos);
  CHECK(error_of(base + "name: [a]").find("name: expected a name of letters") != std::string::npos);
  CHECK(error_of(base + "optimizer: 0.1").find("t.yaml:4:12: optimizer: expected a map of keys (type, lr,") == 0);
  CHECK(error_of(base + "model: {input_shape: 784}").find("duplicate key") != std::string::npos);
  CHECK(error_of("data: {file: d.h5}\nmodel: {layers: [relu], input_shape: 784}").find("model.input_shape: expected a list like [1, 2] (possibly []), got \"784\"") != std::string::npos);
  CHECK(error_of("data: {file: d.h5}\nmodel: {layers: [relu], input_shape: [784, 0]}").find("t.yaml:2:44: model.input_shape.1: expected an integer >= 1, got \"0\"") == 0);
}

TEST_CASE("numbers: ranges, integers, huge and non-finite values") {
  const std::string base = kMinimal;
  auto err = [&](const std::string& extra) { return error_of(base + extra); };
  CHECK(err("train: {accum_steps: 2.5}").find("train.accum_steps: expected an integer >= 1, got \"2.5\" (not a whole number)") != std::string::npos);
  CHECK(err("train: {accum_steps: 0}").find("expected an integer >= 1, got \"0\"") != std::string::npos);
  CHECK(err("train: {steps: 99999999999999999999}").find("(beyond the 64-bit integer range)") != std::string::npos);
  CHECK(err("train: {steps: 1e300}").find("too large") != std::string::npos);
  CHECK(err("optimizer: {lr: 1e999}").find("got \"1e999\" (out of the range of a 64-bit float)") != std::string::npos);
  CHECK(err("optimizer: {lr: .inf}").find("(must be a finite number)") != std::string::npos);
  CHECK(err("optimizer: {lr: .nan}").find("(must be a finite number)") != std::string::npos);
  CHECK(error_of("model: {layers: [relu]}\ndata: {file: d.h5, input_scale: -.inf}").find("data.input_scale: expected a number, got \"-.inf\" (must be a finite number)") != std::string::npos);
  CHECK(err("optimizer: {lr: 0}").find("expected a positive number, got \"0\"") != std::string::npos);
  CHECK(err("optimizer: {lr: 0x10}").find("expected a positive number, got \"0x10\"") != std::string::npos);
  CHECK(err("optimizer: {beta1: 1}").find("optimizer.beta1: expected a number in [0, 1), got \"1\"") != std::string::npos);
  CHECK(err("precision: {loss_scale: {growth_factor: 1}}").find("expected a number > 1") != std::string::npos);
  CHECK(err("precision: {loss_scale: {backoff_factor: 1}}").find("expected a number in (0, 1)") != std::string::npos);
  CHECK(err("precision: {loss_scale: {backoff_factor: 0}}").find("expected a number in (0, 1)") != std::string::npos);
  CHECK(err("precision: {loss_scale: {growth_interval: 0}}").find("expected an integer >= 1") != std::string::npos);
  CHECK(err("precision: {loss_scale: {hysteresis: 0}}").find("precision.loss_scale.hysteresis") != std::string::npos);
  CHECK(err("precision: {loss_scale: {min_scale: 0}}").find("expected a positive number") != std::string::npos);
  CHECK(error_of("model: {layers: [relu]}\ndata: {file: d.h5, batch_size: 0}").find("data.batch_size: expected an integer >= 1") != std::string::npos);
}

TEST_CASE("choices, names and cross-field rules") {
  const std::string base = kMinimal;
  CHECK(error_of(base + "optimizer: {type: adam}").find("optimizer.type: expected one of adamw|sgd, got \"adam\" (did you mean \"adamw\"?)") != std::string::npos);
  CHECK(error_of(base + "schedule: {type: cosin}").find("schedule.type: expected one of constant|cosine|linear|step") != std::string::npos);
  CHECK(error_of(base + "device: gpu").find("device: expected one of auto|cpu|cuda") != std::string::npos);
  CHECK(error_of(base + "name: my run").find("name: expected a name of letters, digits, '_', '.' and '-', got \"my run\"") != std::string::npos);
  CHECK(error_of(base + "optimizer: {type: sgd, nesterov: true}") ==
        "t.yaml:4:34: optimizer.nesterov: expected false when optimizer.momentum is 0, got true "
        "(Nesterov needs momentum > 0; set optimizer.momentum)");
  CHECK_NOTHROW(load_text(base + "optimizer: {type: sgd, nesterov: true, momentum: 0.9}"));
  CHECK(error_of("model: {layers: [relu]}\ndata: {file: d.h5, val: {y: \"\"}}").find("data.val.y: expected the HDF5 dataset") != std::string::npos);
  CHECK_NOTHROW(load_text("model: {layers: [relu]}\ndata: {file: d.h5, val: {x: \"\", y: \"\"}}"));
}

TEST_CASE("required keys") {
  CHECK(error_of("model: {layers: [relu]}").find("t.yaml: data.file: missing required key") == 0);
  CHECK(error_of("data: {file: d.h5}").find("t.yaml: model.layers: missing required key") == 0);
  CHECK(error_of("data: {file: \"\"}\nmodel: {layers: [relu]}").find("data.file: expected a non-empty string, got \"\"") != std::string::npos);
  CHECK(error_of("data: {file: d.h5}\nmodel: {layers: []}").find("model.layers: expected a non-empty list of layers, got []") != std::string::npos);
}

TEST_CASE("document-level errors") {
  CHECK(error_of("") == "t.yaml: the spec is empty; it needs at least data.file and model.layers (see configs/mnist_mlp.yaml)");
  CHECK(error_of("# only a comment\n").find("the spec is empty") != std::string::npos);
  CHECK(error_of("- a\n- b\n") == "t.yaml:1:1: expected a map of keys (name:, data:, model:, ...) at the top level, got a list");
  CHECK(error_of("just text").find("at the top level, got \"just text\"") != std::string::npos);
  CHECK(error_of("a: [1, 2\n").find("t.yaml:2:1: invalid YAML: end of sequence flow not found") == 0);
  CHECK(error_of("a: b: c\n").find("t.yaml:1:5: invalid YAML: illegal map value") == 0);
  CHECK(error_of(std::string(kMinimal) + "---\nname: x\n").find("t.yaml:4:1: a second YAML document") == 0);
  CHECK(error_of(std::string("name: a\0b\n", 10)).find("t.yaml:1:8: found a NUL byte: this is a binary file") == 0);
  CHECK(error_of("name: caf\xe9\n") == "t.yaml:1:10: invalid UTF-8 (byte 0xE9); a run spec is plain UTF-8 text");
  CHECK(error_of("name: \xc0\xaf\n").find("invalid UTF-8") != std::string::npos);  // overlong '/'
  CHECK(error_of("name: \x01\n").find("control byte 0x01") != std::string::npos);
  CHECK(error_of(std::string(kMinimal) + "optimizer: {lr: 1, lr: 2}").find("t.yaml:4:20: optimizer.lr: duplicate key (first given on line 4)") == 0);
  CHECK(error_of(std::string(kMinimal) + "a: &x [*x]").find("nested more than 64 levels deep") != std::string::npos);
  CHECK(error_of(std::string(kMinimal) + "{[a]: 1}").find("t.yaml:4:1: expected a key name, got a map as a key") == 0);
  CHECK(error_of(std::string(kMinimal) + "? [a]\n: 1\n").find("expected a key name, got a list as a key") != std::string::npos);
  CHECK(error_of(std::string(200, '[')).find("invalid YAML") != std::string::npos);
  // yaml-cpp 0.7's LoadAll loops forever on these (jbeder/yaml-cpp#1040); the loader must not.
  CHECK(error_of(",e-s{t ") == "t.yaml:1:1: invalid YAML: unexpected \",\" (a ',' outside [ ] or { }?)");
  CHECK(error_of("a: 1\n--- ,").find("t.yaml:2:1: a second YAML document") == 0);
  // UTF-8 is fine in strings.
  CHECK(load_text("model: {layers: [relu]}\ndata: {file: \"donn\xc3\xa9" "es.h5\"}\n").data.file ==
        "donn\xc3\xa9" "es.h5");
}

TEST_CASE("files: missing, a directory, a valid path") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "mptrain_config_loader_test";
  fs::create_directories(dir);
  const std::string missing = (dir / "nope.yaml").string();
  try {
    load_spec(missing);
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()) == missing + ": cannot read the spec: No such file or directory");
  }
  try {
    load_spec(dir.string());
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()) == dir.string() + ": is a directory, expected a YAML file");
  }
  const std::string ok = (dir / "ok.yaml").string();
  std::ofstream(ok) << kMinimal << "optimizer:\n  lr: fast\n";
  try {
    load_spec(ok);
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()).find(ok + ":5:7: optimizer.lr:") == 0);
  }
  fs::remove_all(dir);
}
