// train_loop.cpp: the training loop end to end on small synthetic data: run-directory files with
// the contract's columns and a falling loss; bit-exact resume (N straight == N/2 + resume + N/2);
// accumulation equivalence (4 x 32 == 1 x 128 in fp32); injected non-finite gradients skip
// exactly those steps and back the loss scale off; fp16/bf16 runs learn.
#include <doctest/doctest.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "checkpoint/checkpoint_io.h"
#include "checkpoint/checkpoint_store.h"
#include "config/spec_loader.h"
#include "data/synthetic_data.h"
#include "train/trainer.h"
#include "unit/train_csv_util.h"

using namespace mp;
using test::read_csv;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("mptrain_train_loop_" + std::to_string(::getpid())) / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

const fs::path& data_file() {
  static const fs::path f = [] {
    fs::path p = scratch("data") / "synth.h5";
    write_synthetic_classification(p.string(), 1024, 256, 12, 4, 5);
    return p;
  }();
  return f;
}

std::string spec_text(const std::string& extra) {
  std::ostringstream o;
  o << "name: loop\nseed: 3\ndevice: cpu\nthreads: 1\n"
    << "data: {file: " << data_file().string() << ", batch_size: 32}\n"
    << "model:\n  layers:\n    - linear: {out: 32}\n    - gelu\n    - dropout: {p: 0.1}\n"
    << "    - linear: {out: 4}\n"
    << "optimizer: {type: adamw, lr: 0.01}\n"
    << "schedule: {type: cosine, warmup_steps: 5}\n"
    << "train: {steps: 40, log_every: 1, eval_every: 20, checkpoint_every: 20}\n"
    << extra;
  return o.str();
}

int train(const std::string& text, const fs::path& dir, const std::vector<std::string>& sets = {},
          const std::string& resume = "") {
  RunSpec spec = load_spec_from_string(text, "test.yaml", sets);
  TrainerOptions t;
  t.run_dir = dir.string();
  t.resume = resume;
  t.verbosity = -1;
  Trainer tr(spec, t);
  return tr.run();
}

CheckpointData final_checkpoint(const fs::path& dir) {
  std::vector<std::string> warnings;
  auto r = find_resume_checkpoint(dir, warnings);
  REQUIRE(r.has_value());
  return r->data;
}

struct Quiet {
  Quiet() { spdlog::set_level(spdlog::level::warn); }
} quiet;

}  // namespace

TEST_CASE("a run writes the run directory of the contract and its loss falls") {
  const fs::path dir = scratch("files");
  REQUIRE(train(spec_text(""), dir) == 0);
  for (const char* f : {"config.yaml", "metrics.csv", "eval.csv", "summary.json", "checkpoints/latest"})
    CHECK_MESSAGE(fs::exists(dir / f), f);
  auto m = read_csv(dir / "metrics.csv");
  REQUIRE(m.size() == 41);
  CHECK(m[0] == std::vector<std::string>{"step", "epoch", "loss", "lr", "loss_scale", "grad_norm",
                                         "skipped", "samples_per_s", "time_s"});
  const double first = std::stod(m[1][2]), last = std::stod(m[40][2]);
  CHECK(last < 0.5 * first);
  auto e = read_csv(dir / "eval.csv");
  REQUIRE(e.size() == 3);  // header, step 20, step 40
  CHECK(e[0] == std::vector<std::string>{"step", "val_loss", "val_accuracy"});
  CHECK(std::stod(e[2][2]) > 0.8);
  CHECK(fs::exists(dir / "checkpoints" / "step_00000020.h5"));
  CHECK(fs::exists(dir / "checkpoints" / "step_00000040.h5"));
  // config.yaml reproduces the run: loading it gives the same resolved spec.
  std::ifstream cfg(dir / "config.yaml");
  std::stringstream cs;
  cs << cfg.rdbuf();
  RunSpec again = load_spec_from_string(cs.str(), "config.yaml");
  CHECK(again.optimizer.lr == doctest::Approx(0.01));
  CHECK(again.model.layers.size() == 4);
}

TEST_CASE("resume is bit-exact: 40 straight == 20 + resume + 20") {
  for (const char* policy : {"fp32", "bf16", "fp16"}) {
    CAPTURE(policy);
    const std::string text = spec_text(std::string("precision: {policy: ") + policy + "}\n");
    const fs::path a = scratch(std::string("straight_") + policy), b = scratch(std::string("resumed_") + policy);
    REQUIRE(train(text, a) == 0);
    // The resumed run starts from the straight run's step-20 checkpoint only.
    fs::create_directories(b / "checkpoints");
    fs::copy_file(a / "checkpoints" / "step_00000020.h5", b / "checkpoints" / "step_00000020.h5");
    REQUIRE(train(text, b, {}, (b / "checkpoints" / "step_00000020.h5").string()) == 0);
    const CheckpointData ca = final_checkpoint(a), cb = final_checkpoint(b);
    REQUIRE(ca.step == 40);
    REQUIRE(cb.step == 40);
    REQUIRE(ca.params.size() == cb.params.size());
    for (size_t i = 0; i < ca.params.size(); ++i) {
      CAPTURE(ca.params[i].name);
      CHECK(std::memcmp(ca.params[i].values.data(), cb.params[i].values.data(),
                        ca.params[i].values.size() * sizeof(float)) == 0);
    }
    for (size_t i = 0; i < ca.optimizer.size(); ++i)
      CHECK(ca.optimizer[i].values == cb.optimizer[i].values);
    CHECK(ca.scaler.scale == cb.scaler.scale);
    // metrics rows from step 21 on agree in every deterministic column
    auto ma = read_csv(a / "metrics.csv"), mb = read_csv(b / "metrics.csv");
    REQUIRE(ma.size() == 41);
    REQUIRE(mb.size() == 21);  // header + steps 21..40 (the resumed dir had no earlier rows)
    for (size_t r = 1; r < mb.size(); ++r)
      for (size_t c = 0; c < 7; ++c) CHECK(ma[r + 20][c] == mb[r][c]);
    // the best validation loss carries over the checkpoint (eval at step 20 happened before it)
    auto best = [](const fs::path& d) {
      std::ifstream in(d / "summary.json");
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string j = ss.str();
      const size_t k = j.find("\"best_val_loss\"");
      return j.substr(k, j.find(',', k) - k);
    };
    CHECK(best(a) == best(b));
  }
}

TEST_CASE("accumulation: 4 micro-batches of 32 equal 1 batch of 128 in fp32") {
  const std::string base =
      spec_text("") + "";
  const fs::path a = scratch("accum4"), b = scratch("accum1");
  const std::vector<std::string> common = {"optimizer.type=sgd", "optimizer.momentum=0.9",
                                           "optimizer.lr=0.05", "model.layers.2.dropout.p=0.0",
                                           "train.steps=20"};
  auto sa = common, sb = common;
  sa.insert(sa.end(), {"train.accum_steps=4", "data.batch_size=32"});
  sb.insert(sb.end(), {"train.accum_steps=1", "data.batch_size=128"});
  REQUIRE(train(base, a, sa) == 0);
  REQUIRE(train(base, b, sb) == 0);
  const CheckpointData ca = final_checkpoint(a), cb = final_checkpoint(b);
  for (size_t i = 0; i < ca.params.size(); ++i) {
    double err = 0, norm = 0;
    for (size_t k = 0; k < ca.params[i].values.size(); ++k) {
      const double d = ca.params[i].values[k] - cb.params[i].values[k];
      err += d * d;
      norm += cb.params[i].values[k] * static_cast<double>(cb.params[i].values[k]);
    }
    CHECK_MESSAGE(std::sqrt(err / norm) < 1e-6, ca.params[i].name);
  }
}

TEST_CASE("injected non-finite gradients: exactly those steps are skipped and the scale backs off") {
  const fs::path dir = scratch("inject");
  REQUIRE(train(spec_text("precision: {policy: fp16, loss_scale: {init: 1024, growth_interval: 100}}\n"
                          "debug: {inject_nonfinite_grad_steps: [5, 6, 30]}\n"),
                dir) == 0);
  auto m = read_csv(dir / "metrics.csv");
  REQUIRE(m.size() == 41);
  double expect_scale = 1024;
  for (size_t r = 1; r <= 40; ++r) {
    CAPTURE(r);
    const bool skipped = r == 5 || r == 6 || r == 30;
    CHECK(m[r][6] == (skipped ? "1" : "0"));
    CHECK(std::stod(m[r][4]) == expect_scale);  // the scale in force for this step
    if (skipped) expect_scale *= 0.5;
  }
  const CheckpointData ck = final_checkpoint(dir);
  CHECK(ck.scaler.total_skips == 3);
  CHECK(ck.applied_steps == 37);
}
