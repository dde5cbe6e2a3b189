// tune_decision.cpp: the tune-precision rules (tune/tune_decision.h) on hand-made telemetry tables
// and loss curves: which layer made the forward inf, the near-max and gradient-underflow limits
// on both sides of their thresholds, the probe's fp16 scale and the recommended init, the loss
// curve comparison, the device's order of preference, the parsers of the probe files and of
// --candidates.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "tune/tune_decision.h"
#include "tune/tune_precision.h"
#include "tune/tune_probe.h"

using namespace mp;

namespace {

constexpr double kF16Max = 65504.0;

// A row of `numel` 1000 elements with the given counts.
TelemetryRow row(int64_t step, const std::string& layer, RoundingPoint p, DType d, double max_abs,
                 int64_t overflow = 0, int64_t underflow = 0, double scale = 1.0) {
  TelemetryRow r;
  r.step = step;
  r.layer = layer;
  r.point = p;
  r.dtype = d;
  r.loss_scale = scale;
  r.numel = 1000;
  r.overflow = overflow;
  r.underflow = underflow;
  r.near_max = overflow;
  r.max_abs = max_abs;
  return r;
}

LayerStats stats(const std::string& layer, DType d, double act_max) {
  LayerStats s;
  s.layer = layer;
  s.dtype = d;
  s.act_max_abs = act_max;
  return s;
}

const LayerStats& find(const std::vector<LayerStats>& v, const std::string& name) {
  for (const LayerStats& s : v)
    if (s.layer == name) return s;
  FAIL("no layer " << name);
  return v.front();
}

std::vector<ProbeStep> curve(const std::vector<double>& losses) {
  std::vector<ProbeStep> out;
  for (size_t i = 0; i < losses.size(); ++i)
    out.push_back({static_cast<int64_t>(i + 1), losses[i], 1.0, false});
  return out;
}

constexpr auto Out = RoundingPoint::Output;
constexpr auto Grad = RoundingPoint::InputGrad;
constexpr auto InCast = RoundingPoint::InputCast;

}  // namespace

TEST_CASE("layer_stats: the first overflowing forward row names the layer that made the inf") {
  const DType h = DType::F16;
  // Step 1: `big` overflows, `relu` and the head inherit its inf; the gradients are NaN (skipped).
  // Step 2: only `relu`'s input cast overflows first (the head inherits).
  const std::vector<TelemetryRow> rows = {
      row(1, "in", Out, h, 3.0),       row(1, "big", Out, h, INFINITY, 40),
      row(1, "relu", Out, h, INFINITY, 20), row(1, "head", Out, h, INFINITY, 1000),
      row(1, "loss", Grad, h, 0, 1000),  row(1, "head", Grad, h, 0, 1000),
      row(2, "in", Out, h, 2.0),       row(2, "big", Out, h, 30000.0),
      row(2, "relu", InCast, h, INFINITY, 5), row(2, "head", Out, h, INFINITY, 7),
  };
  const std::vector<ProbeStep> steps = {{1, NAN, 1024, true}, {2, NAN, 512, true}};
  const auto s = layer_stats(rows, steps);
  REQUIRE(s.size() == 4);  // "loss" is no layer
  CHECK(s[0].layer == "in");
  CHECK(s[1].layer == "big");
  CHECK_FALSE(find(s, "in").first_overflow);
  CHECK(find(s, "big").first_overflow);
  CHECK(find(s, "big").first_overflow_point == Out);
  CHECK(find(s, "relu").first_overflow);  // step 2
  CHECK(find(s, "relu").first_overflow_point == InCast);
  CHECK_FALSE(find(s, "head").first_overflow);
  CHECK(find(s, "big").act_overflow_frac == doctest::Approx(0.04));
  CHECK(std::isinf(find(s, "big").act_max_abs));
  CHECK_FALSE(find(s, "head").grad_underflow_frac.has_value());  // only skipped steps
  CHECK(forward_overflowed(rows));
  CHECK_FALSE(forward_overflowed({row(1, "x", Grad, h, INFINITY, 3)}));
}

TEST_CASE("layer_stats: gradient underflow is the mean over the steps that were not skipped") {
  const DType h = DType::F16;
  const std::vector<TelemetryRow> rows = {
      row(1, "a", Out, h, 1.0), row(1, "a", Grad, h, 8.0, 0, 100, 64.0),
      row(2, "a", Out, h, 1.0), row(2, "a", Grad, h, 9.0, 0, 300, 32.0),
      row(3, "a", Out, h, 1.0), row(3, "a", Grad, h, INFINITY, 9, 900, 128.0),  // skipped
  };
  const auto s = layer_stats(rows, {{1, 1, 64, false}, {2, 1, 32, false}, {3, 1, 128, true}});
  REQUIRE(s.size() == 1);
  REQUIRE(s[0].grad_underflow_frac.has_value());
  CHECK(*s[0].grad_underflow_frac == doctest::Approx(0.2));
  CHECK(s[0].grad_scale == 64.0);
  CHECK(std::isinf(max_grad_abs(rows)));
  CHECK(max_grad_abs({rows[1], rows[3]}) == 9.0);
}

TEST_CASE("decide_fp32_layers: activations near max(D) in fp32 keep a layer fp32, in fp16 not bf16") {
  const double limit = kNearMaxFraction * kF16Max;  // 32752
  const std::vector<LayerStats> ref = {stats("a", DType::F32, 10.0),
                                       stats("at", DType::F32, limit),
                                       stats("above", DType::F32, std::nextafter(limit, 1e9)),
                                       stats("huge", DType::F32, 1e6)};
  const auto f16 = decide_fp32_layers(DType::F16, ref, {}, false, {});
  REQUIRE(f16.size() == 4);
  CHECK_FALSE(f16[0].fp32);
  CHECK_FALSE(f16[1].fp32);  // at the limit: not beyond it
  CHECK(f16[2].fp32);
  CHECK(f16[3].fp32);
  CHECK(f16[3].reason.find("0.5 x max(fp16) = 32752") != std::string::npos);
  for (const auto& d : decide_fp32_layers(DType::BF16, ref, {}, false, {})) CHECK_FALSE(d.fp32);
  // A non-finite reference (an fp32 overflow) is beyond every limit.
  CHECK(decide_fp32_layers(DType::BF16, {stats("x", DType::F32, INFINITY)}, {}, false, {})[0].fp32);
}

TEST_CASE("decide_fp32_layers: the first overflow, and gradient underflow only with a finite forward") {
  const std::vector<LayerStats> ref = {stats("a", DType::F32, 1.0), stats("b", DType::F32, 1.0),
                                       stats("c", DType::F32, 1.0)};
  std::vector<LayerStats> cand = {stats("a", DType::F16, 1.0), stats("b", DType::F16, 1.0),
                                  stats("c", DType::F16, 1.0)};
  cand[0].first_overflow = true;
  cand[0].act_overflow_frac = 0.5;
  cand[1].act_overflow_frac = 1.0;  // inherited
  cand[1].grad_underflow_frac = kGradUnderflowLimit + 0.01;
  cand[2].grad_underflow_frac = kGradUnderflowLimit;  // at the limit: fine
  auto d = decide_fp32_layers(DType::F16, ref, cand, true, {});
  CHECK(d[0].fp32);
  CHECK(d[0].reason.find("fp16 output overflowed first") != std::string::npos);
  CHECK_FALSE(d[1].fp32);  // its gradients are not judged while the forward overflows
  CHECK_FALSE(d[2].fp32);
  cand[0].first_overflow = false;
  d = decide_fp32_layers(DType::F16, ref, cand, false, {});
  CHECK_FALSE(d[0].fp32);
  CHECK(d[1].fp32);
  CHECK(d[1].reason.find("underflow") != std::string::npos);
  CHECK_FALSE(d[2].fp32);
  // A layer already fp32 in the probe is reported as kept, whatever its figures.
  d = decide_fp32_layers(DType::F16, ref, cand, false, {"c"});
  CHECK(d[2].fp32);
  CHECK(d[2].reason == "kept in fp32");
  // Its gradients, stored in fp32 in the probe, are not D's: no rule 3.
  cand[1].dtype = DType::F32;
  CHECK_FALSE(decide_fp32_layers(DType::F16, ref, cand, false, {})[1].fp32);
}

TEST_CASE("probe_loss_scale: the largest power of two with 4x headroom, within the scaler's range") {
  LossScaleSpec ls;
  // 0.25 x 65504 / 474 = 34.5 -> 32 (the e2e model's fp32 gradients reached 474).
  CHECK(probe_loss_scale(DType::F16, 474.0, ls) == 32.0);
  CHECK(probe_loss_scale(DType::F16, 0.25 * kF16Max / 1024.0, ls) == 1024.0);
  CHECK(probe_loss_scale(DType::F16, 0.0, ls) == kMaxProbeScale);
  CHECK(probe_loss_scale(DType::F16, 1e-30, ls) == kMaxProbeScale);
  CHECK(probe_loss_scale(DType::F16, 1e9, ls) == 1.0);  // never below min_scale
  CHECK(probe_loss_scale(DType::F16, INFINITY, ls) == 1.0);
  ls.min_scale = 3.0;
  CHECK(probe_loss_scale(DType::F16, 1e9, ls) == 4.0);  // min_scale rounded up to a power of two
  CHECK(probe_loss_scale(DType::BF16, 474.0, ls) == 1.0);
}

TEST_CASE("recommended_scale_init: the largest scale of a step that did not overflow") {
  CHECK(recommended_scale_init({{1, 1, 1024, true}, {2, 1, 512, false}, {3, 1, 512, false}}) ==
        512.0);
  CHECK(recommended_scale_init({{1, 1, 64, false}, {2, 1, 128, false}}) == 128.0);
  CHECK_FALSE(recommended_scale_init({{1, NAN, 2, true}, {2, NAN, 1, true}}).has_value());
  CHECK_FALSE(recommended_scale_init({}).has_value());
}

TEST_CASE("compare_loss_curves: relative tolerance, a floor at a tenth of the first loss") {
  const auto ref = curve({2.0, 1.0, 0.5, 0.25});
  CHECK(compare_loss_curves(ref, ref).pass);
  CHECK(compare_loss_curves(ref, ref).mean_rel_dev == 0.0);
  // 2 % off at every step: passes (tolerance 3 %); 4 % off: fails, and says by how much.
  CHECK(compare_loss_curves(ref, curve({2.04, 1.02, 0.51, 0.255})).pass);
  const auto off = compare_loss_curves(ref, curve({2.08, 1.04, 0.52, 0.26}));
  CHECK_FALSE(off.pass);
  CHECK(off.mean_rel_dev == doctest::Approx(0.04));
  CHECK(off.why.find("departs from fp32's by 0.04") != std::string::npos);
  // Losses below 0.2 (a tenth of 2.0) are compared against 0.2: 0.01 vs 0.012 is 1 %, not 20 %.
  const auto low = compare_loss_curves(curve({2.0, 0.01}), curve({2.0, 0.012}));
  CHECK(low.max_rel_dev == doctest::Approx(0.01));
  CHECK(low.pass);
  // A NaN loss or a probe that stopped early fails whatever the rest.
  CHECK_FALSE(compare_loss_curves(ref, curve({2.0, NAN, 0.5, 0.25})).pass);
  CHECK(compare_loss_curves(ref, curve({2.0, NAN, 0.5, 0.25})).why.find("nan at step 2") !=
        std::string::npos);
  const auto short_run = compare_loss_curves(ref, curve({2.0, 1.0}));
  CHECK_FALSE(short_run.pass);
  CHECK(short_run.why == "stopped after 2 of 4 steps");
}

TEST_CASE("preference_order: auto's choice first, bf16 first where auto picks fp32") {
  const std::vector<DType> both = {DType::F16, DType::BF16};
  NativeLowPrecision cpu_bf16{false, true, false, "AVX512-BF16"};
  NativeLowPrecision cpu_plain{false, false, false, "no bf16"};
  NativeLowPrecision sm75{true, false, true, "sm_75"};
  NativeLowPrecision sm80{true, true, true, "sm_80"};
  CHECK(preference_order(both, cpu_bf16) == std::vector<DType>{DType::BF16, DType::F16});
  CHECK(preference_order(both, cpu_plain) == std::vector<DType>{DType::BF16, DType::F16});
  CHECK(preference_order(both, sm75) == std::vector<DType>{DType::F16, DType::BF16});
  CHECK(preference_order(both, sm80) == std::vector<DType>{DType::BF16, DType::F16});
  CHECK(preference_order({DType::F16}, sm80) == std::vector<DType>{DType::F16});
}

TEST_CASE("parse_candidates: known names once each; anything else is a usage error") {
  CHECK(parse_candidates("fp16") == std::vector<DType>{DType::F16});
  CHECK(parse_candidates("bf16,fp16") == std::vector<DType>{DType::BF16, DType::F16});
  const auto msg = [](const std::string& list) {
    try {
      parse_candidates(list);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(msg("fp8").find("unknown candidate \"fp8\"") != std::string::npos);
  CHECK(msg("fp32").find("fp32 is the reference") != std::string::npos);
  CHECK(msg("fp16,fp16").find("listed twice") != std::string::npos);
  CHECK(msg("").find("empty candidate") != std::string::npos);
  CHECK(msg("bf16,").find("empty candidate") != std::string::npos);
}

TEST_CASE("the probe's run files read back: metrics steps and telemetry rows, quoted names") {
  const auto dir = std::filesystem::temp_directory_path() / "mptrain_test_tune_files";
  std::filesystem::create_directories(dir);
  {
    std::ofstream m(dir / "metrics.csv");
    m << "step,epoch,loss,lr,loss_scale,grad_norm,skipped,samples_per_s,time_s\n"
         "1,0,0.5,0.01,1024,nan,1,10,0.1\n2,0,nan,0.01,512,1.5,0,10,0.2\n";
    std::ofstream t(dir / "telemetry.csv");
    t << telemetry_csv_header() << "\n"
      << telemetry_csv_line(row(1, "a,\"b\"", InCast, DType::F16, INFINITY, 250, 10, 1024)) << "\n";
  }
  const auto steps = read_probe_metrics(dir / "metrics.csv");
  REQUIRE(steps.size() == 2);
  CHECK(steps[0].skipped);
  CHECK(steps[0].loss_scale == 1024.0);
  CHECK_FALSE(steps[1].skipped);
  CHECK(std::isnan(steps[1].loss));
  const auto rows = read_probe_telemetry(dir / "telemetry.csv");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].layer == "a,\"b\"");
  CHECK(rows[0].point == InCast);
  CHECK(rows[0].dtype == DType::F16);
  CHECK(rows[0].overflow == 250);
  CHECK(rows[0].underflow == 10);
  CHECK(std::isinf(rows[0].max_abs));
  std::ofstream(dir / "metrics.csv") << "step,loss\n";
  CHECK_THROWS_AS(read_probe_metrics(dir / "metrics.csv"), DataError);
  std::filesystem::remove_all(dir);
}
