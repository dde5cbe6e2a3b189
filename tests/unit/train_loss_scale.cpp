// train_loss_scale.cpp: the loss scale end to end through the trainer, with plain SGD (no
// momentum), whose update is proportional to the gradient's overall size (AdamW's is nearly blind
// to it, so an fp16 run that got the scaling wrong by a factor S could still pass an AdamW test).
// fp16 with dynamic scaling and with a static scale of 1024 must give the fp32 run's step-1
// gradient norm and step-1 parameters within fp16 tolerance, and must learn as the fp32 run does.
#include <doctest/doctest.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_store.h"
#include "config/spec_loader.h"
#include "data/synthetic_data.h"
#include "train/trainer.h"
#include "unit/checkpoint_fixtures.h"

using namespace mp;
namespace fs = std::filesystem;

namespace {

struct Quiet {
  Quiet() { spdlog::set_level(spdlog::level::warn); }
} quiet;

const mp::testing::TempDir& scratch() {
  static const mp::testing::TempDir d("train_loss_scale");
  return d;
}

const fs::path& data_file() {
  static const fs::path f = [] {
    fs::path p = scratch().path / "synth.h5";
    write_synthetic_classification(p.string(), 1024, 256, 12, 4, 7);
    return p;
  }();
  return f;
}

constexpr double kLr = 0.1;

// What a run left behind that these tests compare.
struct RunResult {
  std::vector<double> grad_norm;  // metrics.csv, one per step
  std::vector<int> skipped;
  double final_loss = 0.0;        // the last step's training loss
  std::vector<std::vector<float>> params;  // final checkpoint (fp32 masters)
};

RunResult train(const std::string& tag, const std::string& precision, int64_t steps) {
  std::ostringstream o;
  o << "name: " << tag << "\nseed: 11\ndevice: cpu\nthreads: 1\n"
    << "data: {file: " << data_file().string() << ", batch_size: 32}\n"
    << "model:\n  layers:\n    - linear: {out: 48}\n    - gelu\n    - linear: {out: 4}\n"
    << "optimizer: {type: sgd, lr: " << kLr << ", momentum: 0}\n"
    << "train: {steps: " << steps << ", log_every: 1}\n"
    << "precision: " << precision << "\n";
  const RunSpec spec = load_spec_from_string(o.str(), tag + ".yaml");
  TrainerOptions t;
  const fs::path dir = scratch().path / tag;
  t.run_dir = dir.string();
  t.verbosity = -1;
  REQUIRE(Trainer(spec, t).run() == 0);

  RunResult r;
  std::ifstream in(dir / "metrics.csv");
  std::string line;
  std::getline(in, line);  // header: step,epoch,loss,lr,loss_scale,grad_norm,skipped,...
  while (std::getline(in, line)) {
    std::vector<std::string> c;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) c.push_back(cell);
    REQUIRE(c.size() >= 7);
    r.final_loss = std::stod(c[2]);
    r.grad_norm.push_back(std::stod(c[5]));
    r.skipped.push_back(std::stoi(c[6]));
  }
  REQUIRE(static_cast<int64_t>(r.grad_norm.size()) == steps);
  std::vector<std::string> warnings;
  const auto ck = find_resume_checkpoint(dir, warnings);
  REQUIRE(ck.has_value());
  for (const auto& p : ck->data.params) r.params.push_back(p.values);
  return r;
}

struct Fp16Run {
  const char* tag;
  const char* precision;
};
// Dynamic from the default 65536 (no overflow on this model), and a static 1024.
const Fp16Run kFp16Runs[] = {{"dyn", "{policy: fp16, loss_scale: {mode: dynamic}}"},
                             {"static", "{policy: fp16, loss_scale: {mode: static, value: 1024}}"}};

}  // namespace

TEST_CASE("fp16 with loss scaling gives the fp32 step-1 gradient norm and parameters") {
  const RunResult ref = train("fp32_1", "{policy: fp32}", 1);
  REQUIRE(ref.skipped[0] == 0);
  const double norm = ref.grad_norm[0];
  REQUIRE(norm > 0.1);
  for (const Fp16Run& run : kFp16Runs) {
    CAPTURE(run.precision);
    const RunResult r = train(std::string("fp16_1_") + run.tag, run.precision, 1);
    REQUIRE(r.skipped[0] == 0);
    // The norm of the unscaled gradient, with fp16 forward/backward roundoff (~1e-3).
    CHECK(r.grad_norm[0] == doctest::Approx(norm).epsilon(2e-3));
    // SGD moved every parameter by lr x g, a vector of length lr x norm: the fp16 run's
    // parameters differ from the fp32 run's by a small fraction of that step.
    REQUIRE(r.params.size() == ref.params.size());
    double diff = 0.0;
    for (size_t i = 0; i < ref.params.size(); ++i) {
      REQUIRE(r.params[i].size() == ref.params[i].size());
      for (size_t k = 0; k < ref.params[i].size(); ++k) {
        const double d = static_cast<double>(r.params[i][k]) - ref.params[i][k];
        diff += d * d;
      }
    }
    MESSAGE("step-1 gradient norm fp32 " << norm << ", fp16 " << r.grad_norm[0]
                                         << "; parameter difference / step length "
                                         << std::sqrt(diff) / (kLr * norm));
    CHECK(std::sqrt(diff) < 5e-3 * kLr * norm);
  }
}

TEST_CASE("fp16 SGD with loss scaling learns as the fp32 run does") {
  const int64_t steps = 60;
  const RunResult ref = train("fp32_n", "{policy: fp32}", steps);
  REQUIRE(ref.final_loss < 0.5 * std::log(4.0));  // the fp32 run learned
  for (const Fp16Run& run : kFp16Runs) {
    CAPTURE(run.precision);
    const RunResult r = train(std::string("fp16_n_") + run.tag, run.precision, steps);
    MESSAGE("final loss fp32 " << ref.final_loss << ", fp16 " << r.final_loss);
    CHECK(r.final_loss == doctest::Approx(ref.final_loss).epsilon(0.02));
  }
}
