// train_loss_normalisation.cpp: a step's loss and gradient are the mean over the samples it
// actually saw (PyTorch's mean reduction over one batch made of all its micro-batches), checked
// through the trainer against fp64 references computed here from the previous step's checkpoint:
// ignore_index rows (one micro-batch all ignored) are out of the loss, the gradient scale and the
// reported loss; a short last batch (drop_last: false) is the mean over its real samples, for
// cross-entropy and MSE; 2 x b with uneven ignore counts == 1 x 2b; validation loss and accuracy
// count only non-ignored samples; a step whose labels are all ignored moves nothing (no NaN, no
// optimizer update, LR schedule and loss scaler untouched).
#include <doctest/doctest.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>

#include "checkpoint/checkpoint_io.h"
#include "config/spec_loader.h"
#include "data/h5_write.h"
#include "train/evaluate.h"
#include "train/trainer.h"
#include "unit/data_test_files.h"
#include "unit/train_csv_util.h"

using namespace mp;
using test::read_csv;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kDim = 3, kClasses = 4;
constexpr int32_t kIgnore = -1;

struct Quiet {
  Quiet() { spdlog::set_level(spdlog::level::err); }
} quiet;

// Inputs in [-1, 1], a fixed function of (row, column).
std::vector<float> inputs(int64_t n) {
  std::vector<float> x(static_cast<size_t>(n * kDim));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(std::sin(0.7 * static_cast<double>(i) + 0.3));
  return x;
}

// Labels i % kClasses except the rows in `ignored`.
std::vector<int32_t> labels(int64_t n, const std::set<int64_t>& ignored) {
  std::vector<int32_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) y[static_cast<size_t>(i)] = ignored.count(i) ? kIgnore : static_cast<int32_t>((i * 7 + 1) % kClasses);
  return y;
}

void write_classification(const std::string& path, const std::vector<float>& x, const std::vector<int32_t>& y,
                          const std::vector<float>& vx, const std::vector<int32_t>& vy) {
  H5Handle f = h5_create(path);
  h5_write(f.get(), "/train/x", {static_cast<int64_t>(y.size()), kDim}, x.data());
  h5_write(f.get(), "/train/y", {static_cast<int64_t>(y.size())}, y.data());
  h5_write(f.get(), "/val/x", {static_cast<int64_t>(vy.size()), kDim}, vx.data());
  h5_write(f.get(), "/val/y", {static_cast<int64_t>(vy.size())}, vy.data());
}

// Training rows inputs(n) with labels(n, ignored), written to `name` in `tmp` with a small
// validation split.
struct ClassData {
  std::vector<float> x;
  std::vector<int32_t> y;
  std::string file;
};
ClassData class_data(const test::TempDir& tmp, const std::string& name, int64_t n, const std::set<int64_t>& ignored) {
  ClassData d{inputs(n), labels(n, ignored), tmp.file(name)};
  write_classification(d.file, d.x, d.y, inputs(4), labels(4, {}));
  return d;
}

// One linear layer [kDim -> out], plain SGD (p -= lr * g), constant lr, no validation unless asked.
std::string spec_text(const std::string& file, const std::string& data_extra, const std::string& train_extra,
                      const std::string& extra = "", int64_t out = kClasses,
                      const std::string& loss = "cross_entropy") {
  std::ostringstream o;
  o << "name: lossnorm\nseed: 5\ndevice: cpu\nthreads: 1\n"
    << "data: {file: " << file << ", shuffle: false" << data_extra << "}\n"
    << "model:\n  loss: " << loss << "\n  ignore_index: " << kIgnore << "\n  layers:\n    - linear: {out: " << out << "}\n"
    << "optimizer: {type: sgd, lr: 0.5, momentum: 0, weight_decay: 0}\n"
    << "schedule: {type: constant, warmup_steps: 0}\n"
    << "train: {log_every: 1, checkpoint_every: 1, keep_checkpoints: 20" << train_extra << "}\n"
    << extra;
  return o.str();
}

RunSpec spec_of(const std::string& text) { return load_spec_from_string(text, "test.yaml"); }

void train(const std::string& text, const fs::path& dir) {
  TrainerOptions t;
  t.run_dir = dir.string();
  t.verbosity = -1;
  Trainer tr(spec_of(text), t);
  REQUIRE(tr.run() == 0);
}

fs::path checkpoint_path(const fs::path& dir, int64_t step) {
  char name[32];
  std::snprintf(name, sizeof name, "step_%08lld.h5", static_cast<long long>(step));
  return dir / "checkpoints" / name;
}

CheckpointData checkpoint(const fs::path& dir, int64_t step) { return read_checkpoint(checkpoint_path(dir, step)); }

// metrics.csv column `col` of step `step` (rows are 1 per step with log_every: 1).
std::string metric(const fs::path& dir, int64_t step, size_t col) {
  const auto m = read_csv(dir / "metrics.csv");
  REQUIRE(static_cast<int64_t>(m.size()) > step);
  REQUIRE(std::stoll(m[static_cast<size_t>(step)][0]) == step);
  return m[static_cast<size_t>(step)][col];
}

// fp64 linear model W [out, kDim], b [out] from a checkpoint (params: weight, bias).
struct Linear64 {
  int64_t out = 0;
  std::vector<double> w, b;
  explicit Linear64(const CheckpointData& ck) {
    REQUIRE(ck.params.size() == 2);
    REQUIRE(ck.params[0].shape == Shape{ck.params[1].shape[0], kDim});
    out = ck.params[1].shape[0];
    w.assign(ck.params[0].values.begin(), ck.params[0].values.end());
    b.assign(ck.params[1].values.begin(), ck.params[1].values.end());
  }
  std::vector<double> forward(const float* x) const {
    std::vector<double> z(static_cast<size_t>(out));
    for (int64_t o = 0; o < out; ++o) {
      z[static_cast<size_t>(o)] = b[static_cast<size_t>(o)];
      for (int64_t j = 0; j < kDim; ++j) z[static_cast<size_t>(o)] += w[static_cast<size_t>(o * kDim + j)] * x[j];
    }
    return z;
  }
  // Accumulates the output gradient dz of one sample into (gw, gb).
  void add_grad(const float* x, const std::vector<double>& dz, std::vector<double>& gw, std::vector<double>& gb) const {
    for (int64_t o = 0; o < out; ++o) {
      gb[static_cast<size_t>(o)] += dz[static_cast<size_t>(o)];
      for (int64_t j = 0; j < kDim; ++j) gw[static_cast<size_t>(o * kDim + j)] += dz[static_cast<size_t>(o)] * x[j];
    }
  }
};

// fp64 softmax cross-entropy of one row and its gradient softmax - onehot.
double xent(const std::vector<double>& z, int32_t label, std::vector<double>& dz) {
  const double m = *std::max_element(z.begin(), z.end());
  double s = 0.0;
  for (double v : z) s += std::exp(v - m);
  dz.resize(z.size());
  for (size_t k = 0; k < z.size(); ++k) dz[k] = std::exp(z[k] - m) / s;
  dz[static_cast<size_t>(label)] -= 1.0;
  return std::log(s) + m - z[static_cast<size_t>(label)];
}

// One SGD step of the reference: the step's samples are rows [begin, end) of (x, y). Returns the
// mean loss over the non-ignored rows and writes the updated (weight, bias) to `next`.
double reference_xent_step(const Linear64& m, const std::vector<float>& x, const std::vector<int32_t>& y,
                           int64_t begin, int64_t end, double lr, std::vector<double>& next_w,
                           std::vector<double>& next_b) {
  std::vector<double> gw(m.w.size()), gb(m.b.size()), dz;
  double loss = 0.0;
  int64_t n = 0;
  for (int64_t i = begin; i < end; ++i) {
    if (y[static_cast<size_t>(i)] == kIgnore) continue;
    const float* xi = &x[static_cast<size_t>(i * kDim)];
    loss += xent(m.forward(xi), y[static_cast<size_t>(i)], dz);
    m.add_grad(xi, dz, gw, gb);
    ++n;
  }
  REQUIRE(n > 0);
  next_w = m.w;
  next_b = m.b;
  for (size_t k = 0; k < gw.size(); ++k) next_w[k] -= lr * gw[k] / static_cast<double>(n);
  for (size_t k = 0; k < gb.size(); ++k) next_b[k] -= lr * gb[k] / static_cast<double>(n);
  return loss / static_cast<double>(n);
}

void check_params(const CheckpointData& ck, const std::vector<double>& w, const std::vector<double>& b) {
  REQUIRE(ck.params.size() == 2);
  for (size_t k = 0; k < w.size(); ++k) {
    CAPTURE(k);
    CHECK(ck.params[0].values[k] == doctest::Approx(w[k]).epsilon(1e-5).scale(1.0));
  }
  for (size_t k = 0; k < b.size(); ++k) {
    CAPTURE(k);
    CHECK(ck.params[1].values[k] == doctest::Approx(b[k]).epsilon(1e-5).scale(1.0));
  }
}

// The run in `dir` made step `step` from its previous checkpoint on rows [begin, end) as the fp64
// reference does: parameters and the reported loss.
void check_xent_step(const fs::path& dir, int64_t step, const ClassData& d, int64_t begin, int64_t end) {
  std::vector<double> w, b;
  const double loss = reference_xent_step(Linear64(checkpoint(dir, step - 1)), d.x, d.y, begin, end, 0.5, w, b);
  check_params(checkpoint(dir, step), w, b);
  CHECK(std::stod(metric(dir, step, 2)) == doctest::Approx(loss).epsilon(1e-6));
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("ignore_index rows are left out of a step's gradient and loss, across micro-batches") {
  test::TempDir tmp;
  // 2 steps of 3 micro-batches of 4. Step 2 = rows 12..23: micro-batch 12..15 has 2 ignored rows,
  // 16..19 is all ignored, 20..23 has none: N = 6 of 12.
  const ClassData d = class_data(tmp, "ignored.h5", 24, {1, 5, 6, 13, 14, 16, 17, 18, 19});
  const fs::path dir = tmp.file("run");
  train(spec_text(d.file, ", batch_size: 4", ", steps: 2, accum_steps: 3"), dir);
  check_xent_step(dir, 2, d, 12, 24);
}

TEST_CASE("with drop_last: false the short last batch's step is the mean over its real samples") {
  test::TempDir tmp;
  SUBCASE("cross_entropy") {
    // 10 rows in batches of 4: steps 1, 2 full, step 3 = rows 8, 9 (one ignored: N = 1).
    const ClassData d = class_data(tmp, "short.h5", 10, {2, 9});
    const fs::path dir = tmp.file("run");
    train(spec_text(d.file, ", batch_size: 4, drop_last: false", ", steps: 3"), dir);
    check_xent_step(dir, 3, d, 8, 10);
  }
  SUBCASE("mse: mean over the real samples and the target elements") {
    // 11 rows, batches of 4 with accum 2: step 2 = rows 8..10 (one micro-batch of 3, then the
    // next epoch's rows 0..3): 7 real samples.
    const int64_t n = 11, outs = 2;
    const std::vector<float> x = inputs(n);
    std::vector<float> t(static_cast<size_t>(n * outs));
    for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<float>(std::cos(1.3 * static_cast<double>(i)));
    const std::string file = tmp.file("reg.h5");
    {
      H5Handle f = h5_create(file);
      h5_write(f.get(), "/train/x", {n, kDim}, x.data());
      h5_write(f.get(), "/train/y", {n, outs}, t.data());
    }
    const fs::path dir = tmp.file("run");
    train(spec_text(file, ", batch_size: 4, drop_last: false, val: {x: \"\"}",
                    ", steps: 2, accum_steps: 2", "", outs, "mse"),
          dir);
    const Linear64 m(checkpoint(dir, 1));
    std::vector<double> gw(m.w.size()), gb(m.b.size());
    double loss = 0.0;
    const std::vector<int64_t> rows = {8, 9, 10, 0, 1, 2, 3};
    for (int64_t i : rows) {
      const float* xi = &x[static_cast<size_t>(i * kDim)];
      const std::vector<double> z = m.forward(xi);
      std::vector<double> dz(static_cast<size_t>(outs));
      double se = 0.0;
      for (int64_t o = 0; o < outs; ++o) {
        const double e = z[static_cast<size_t>(o)] - t[static_cast<size_t>(i * outs + o)];
        se += e * e;
        dz[static_cast<size_t>(o)] = 2.0 * e / static_cast<double>(outs);
      }
      loss += se / static_cast<double>(outs);
      m.add_grad(xi, dz, gw, gb);
    }
    const double nr = static_cast<double>(rows.size());
    std::vector<double> w2 = m.w, b2 = m.b;
    for (size_t k = 0; k < gw.size(); ++k) w2[k] -= 0.5 * gw[k] / nr;
    for (size_t k = 0; k < gb.size(); ++k) b2[k] -= 0.5 * gb[k] / nr;
    check_params(checkpoint(dir, 2), w2, b2);
    CHECK(std::stod(metric(dir, 2, 2)) == doctest::Approx(loss / nr).epsilon(1e-6));
  }
}

TEST_CASE("accumulation 2 x b with uneven ignore counts equals 1 x 2b and the fp64 mean") {
  test::TempDir tmp;
  // Step 2 = rows 8..15: micro-batch 8..11 has 3 ignored rows, 12..15 has one.
  const ClassData d = class_data(tmp, "uneven.h5", 16, {0, 8, 9, 11, 14});
  const fs::path a = tmp.file("acc2"), b = tmp.file("acc1");
  train(spec_text(d.file, ", batch_size: 4", ", steps: 2, accum_steps: 2"), a);
  train(spec_text(d.file, ", batch_size: 8", ", steps: 2, accum_steps: 1"), b);
  for (int64_t step : {1, 2}) {
    CAPTURE(step);
    const CheckpointData ca = checkpoint(a, step), cb = checkpoint(b, step);
    for (size_t p = 0; p < 2; ++p)
      for (size_t k = 0; k < ca.params[p].values.size(); ++k)
        CHECK(ca.params[p].values[k] == doctest::Approx(cb.params[p].values[k]).epsilon(1e-6).scale(1.0));
    CHECK(std::stod(metric(a, step, 2)) == doctest::Approx(std::stod(metric(b, step, 2))).epsilon(1e-6));
  }
  check_xent_step(a, 2, d, 8, 16);
}

TEST_CASE("validation loss and accuracy count only the non-ignored samples") {
  test::TempDir tmp;
  const int64_t n = 8, nv = 18;  // validation in batches of 4: the last one short (2)
  const std::vector<float> x = inputs(n), vx = inputs(nv + 5);
  const std::set<int64_t> ignored = {0, 3, 4, 5, 6, 7, 13};
  const std::vector<int32_t> y = labels(n, {}), vy = labels(nv, ignored);
  const std::vector<float> vx18(vx.begin() + 5 * kDim, vx.end());  // other rows than training
  const std::string file = tmp.file("val.h5");
  write_classification(file, x, y, vx18, vy);
  const fs::path dir = tmp.file("run");
  const std::string text = spec_text(file, ", batch_size: 4", ", steps: 1");
  train(text, dir);

  // fp64 reference from the final parameters (the step-1 checkpoint the end-of-run eval used).
  const Linear64 m(checkpoint(dir, 1));
  double loss = 0.0;
  int64_t correct = 0, counted = 0;
  std::vector<double> dz;
  for (int64_t i = 0; i < nv; ++i) {
    const int32_t label = vy[static_cast<size_t>(i)];
    if (label == kIgnore) continue;
    const std::vector<double> z = m.forward(&vx18[static_cast<size_t>(i * kDim)]);
    loss += xent(z, label, dz);
    std::vector<double> sorted = z;
    std::sort(sorted.begin(), sorted.end());
    REQUIRE(sorted.back() - sorted[sorted.size() - 2] > 1e-4);  // no near-tie for fp32 argmax
    correct += std::max_element(z.begin(), z.end()) - z.begin() == label;
    ++counted;
  }
  REQUIRE(counted == nv - static_cast<int64_t>(ignored.size()));
  REQUIRE(correct > 0);  // else counting ignored rows would not change the accuracy
  const double ref_loss = loss / static_cast<double>(counted);
  const double ref_acc = static_cast<double>(correct) / static_cast<double>(counted);

  const auto e = read_csv(dir / "eval.csv");
  REQUIRE(e.size() == 2);
  CHECK(std::stod(e[1][1]) == doctest::Approx(ref_loss).epsilon(1e-6));
  CHECK(std::stod(e[1][2]) == doctest::Approx(ref_acc).epsilon(1e-12));

  // `mptrain eval` goes through the same evaluation.
  const EvalResult r = evaluate_checkpoint(spec_of(text), checkpoint_path(dir, 1).string());
  CHECK(r.samples == nv);
  CHECK(r.counted == counted);
  CHECK(r.loss == doctest::Approx(ref_loss).epsilon(1e-6));
  CHECK(r.accuracy == doctest::Approx(ref_acc).epsilon(1e-12));

  SUBCASE("a split whose labels are all ignored has no loss or accuracy, and no error") {
    const std::string all = tmp.file("val_all_ignored.h5");
    std::set<int64_t> every;
    for (int64_t i = 0; i < nv; ++i) every.insert(i);
    write_classification(all, x, y, vx18, labels(nv, every));
    const EvalResult none = evaluate_checkpoint(spec_of(spec_text(all, ", batch_size: 4", ", steps: 1")),
                                                checkpoint_path(dir, 1).string());
    CHECK(none.samples == nv);
    CHECK(none.counted == 0);
    CHECK(std::isnan(none.loss));
    CHECK(std::isnan(none.accuracy));
  }
}

TEST_CASE("a step whose labels are all ignored: no NaN, no update, counted as skipped, schedule and scale untouched") {
  for (const char* policy : {"fp32", "fp16"}) {
    CAPTURE(policy);
    test::TempDir tmp;
    // Run A: 3 steps of 2 x 4, step 2 (rows 8..15) all ignored. Run B: the same data without
    // rows 8..15, 2 steps. AdamW with weight decay would move the weights on zero gradients, so
    // A's step 3 equals B's step 2 only if A's step 2 touched neither weights nor moments, nor the
    // applied-step count (bias correction), the schedule or the loss scaler.
    const int64_t n = 24;
    std::set<int64_t> mid;
    for (int64_t i = 8; i < 16; ++i) mid.insert(i);
    const std::vector<float> x = inputs(n);
    const std::vector<int32_t> y = labels(n, mid);
    std::vector<float> xb(x.begin(), x.begin() + 8 * kDim);
    xb.insert(xb.end(), x.begin() + 16 * kDim, x.end());
    std::vector<int32_t> yb(y.begin(), y.begin() + 8);
    yb.insert(yb.end(), y.begin() + 16, y.end());
    const std::string fa = tmp.file("a.h5"), fb = tmp.file("b.h5");
    write_classification(fa, x, y, inputs(4), labels(4, {}));
    write_classification(fb, xb, yb, inputs(4), labels(4, {}));
    const std::string extra = std::string("precision: {policy: ") + policy + "}\n";
    auto text = [&](const std::string& file, int steps) {
      std::string t = spec_text(file, ", batch_size: 4", ", accum_steps: 2, steps: " + std::to_string(steps), extra);
      const std::string sgd = "optimizer: {type: sgd, lr: 0.5, momentum: 0, weight_decay: 0}";
      return t.replace(t.find(sgd), sgd.size(), "optimizer: {type: adamw, lr: 0.05, weight_decay: 0.1}");
    };
    const fs::path a = tmp.file("a"), b = tmp.file("b");
    train(text(fa, 3), a);
    train(text(fb, 2), b);

    const CheckpointData a1 = checkpoint(a, 1), a2 = checkpoint(a, 2), a3 = checkpoint(a, 3), b2 = checkpoint(b, 2);
    for (size_t p = 0; p < a1.params.size(); ++p) {
      CAPTURE(a1.params[p].name);
      CHECK(same_bits(a2.params[p].values, a1.params[p].values));
      CHECK(same_bits(a3.params[p].values, b2.params[p].values));
    }
    REQUIRE(a3.optimizer.size() == b2.optimizer.size());
    for (size_t s = 0; s < a3.optimizer.size(); ++s) CHECK(same_bits(a3.optimizer[s].values, b2.optimizer[s].values));
    CHECK(a2.applied_steps == 1);
    CHECK(a3.applied_steps == 2);
    CHECK(a3.scaler.scale == b2.scaler.scale);
    CHECK(a3.scaler.growth_tracker == b2.scaler.growth_tracker);
    // Counted as a skipped step (so step = applied + skipped, as checkpoints are checked), but
    // not as an overflow: the consecutive count and the scale stay.
    CHECK(a3.scaler.total_skips == 1);
    CHECK(a3.scaler.consecutive_skips == 0);
    CHECK(a3.step == a3.applied_steps + a3.scaler.total_skips);
    // metrics.csv: step 2 has loss 0, a zero gradient norm, skipped = 1; no NaN anywhere.
    CHECK(metric(a, 2, 2) == "0");
    CHECK(metric(a, 2, 5) == "0");
    CHECK(metric(a, 2, 6) == "1");
    CHECK(metric(a, 2, 4) == metric(a, 1, 4));  // loss scale unchanged
    for (const auto& row : read_csv(a / "metrics.csv"))
      for (const std::string& cell : row) CHECK(cell.find("nan") == std::string::npos);
    CHECK(metric(a, 3, 2) == metric(b, 2, 2));
  }
}
