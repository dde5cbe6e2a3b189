// precision_telemetry.cpp: the probe's counting rules on chosen values, activation gradients that
// underflow fp16 at S = 1 and not at the dynamic scaler's S (against an fp64 reference of the
// same gradient), forward outputs that overflow fp16 but not bf16, a probe pass that changes
// nothing, and the telemetry.csv line format.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "nn/loss.h"
#include "nn/model.h"
#include "precision/loss_scaler.h"
#include "precision/telemetry.h"

using namespace mp;

namespace {

constexpr double kF16MinNormal = 6.103515625e-05;  // 2^-14

LayerSpec linear(int64_t out) {
  LayerSpec s = default_layer_spec("linear");
  s.params["out"] = ParamValue(out);
  s.where = "test";
  return s;
}

LayerSpec plain(const std::string& type) {
  LayerSpec s = default_layer_spec(type);
  s.where = "test";
  return s;
}

std::vector<float> random_values(size_t n, std::mt19937_64& g, double lo, double hi, bool signs) {
  std::uniform_real_distribution<double> mag(lo, hi);
  std::bernoulli_distribution neg(0.5);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>((signs && neg(g) ? -1 : 1) * mag(g));
  return v;
}

void set_param(Backend& be, Parameter& p, const std::vector<float>& v) {
  set_parameter_values(be, p, from_host_floats(be, v, p.master.shape(), DType::F32));
}

const TelemetryRow* find_row(const std::vector<TelemetryRow>& rows, const std::string& layer,
                             RoundingPoint point) {
  for (const TelemetryRow& r : rows)
    if (r.layer == layer && r.point == point) return &r;
  return nullptr;
}

double frac(int64_t count, const TelemetryRow& r) {
  return static_cast<double>(count) / static_cast<double>(r.numel);
}

// fp16 model: linear 16 -> 16, linear 16 -> 4 with weights ~2e-4 (normal in fp16), MSE against
// targets 0.01. The loss gradient is ~6e-4 x S (normal in fp16 at S = 1); layers.1's input
// gradient (dL/dh = dpred W1) is ~5e-7 x S: subnormal in fp16 at S = 1.
struct TinyGradModel {
  static constexpr int64_t kBatch = 8, kIn = 16, kHidden = 16, kOut = 4;
  std::unique_ptr<Backend> be = make_cpu_backend(1);
  std::unique_ptr<Model> model;
  MseLoss loss, shadow;
  Tensor x, target;
  double loss_grad_max = 0;  // fp64 reference of max |dL/dpred| x S of the latest probe

  TinyGradModel() {
    ModelOptions opt;
    opt.compute = DType::F16;
    model = Model::build(*be, {linear(kHidden), linear(kOut)}, {kIn}, opt);
    std::mt19937_64 g(5);
    set_param(*be, *model->find_param("layers.0.weight"),
              random_values(kHidden * kIn, g, 0.05, 0.6, true));
    set_param(*be, *model->find_param("layers.1.weight"),
              random_values(kOut * kHidden, g, 1e-4, 4e-4, true));
    x = from_host_floats(*be, random_values(kBatch * kIn, g, 0.5, 1.0, true), {kBatch, kIn}, DType::F32);
    target = from_host_floats(*be, std::vector<float>(kBatch * kOut, 0.01f), {kBatch, kOut}, DType::F32);
  }

  // One probe pass at loss scale S (as the trainer runs it: loss x S / batch).
  std::vector<TelemetryRow> probe(double S) {
    TelemetryProbe p(*be, 3, S);
    Context ctx{*be, true, 1, 0};
    ctx.probe = &p;
    const float grad_scale = static_cast<float>(S / kBatch);
    const Tensor& out = model->forward(ctx, x);
    loss_grad_max = 0;
    for (float y : to_host_floats(*be, out))  // dL/dpred = 2 (pred - t) / per / batch
      loss_grad_max = std::max(loss_grad_max, std::abs(2.0 * (y - 0.01f) / kOut / kBatch) * S);
    loss.compute(*be, out, target, grad_scale, true);
    p.observe_loss_grad(shadow, out, target, grad_scale, loss.grad());
    model->backward(ctx, loss.grad());
    return p.rows();
  }

  // fp64 reference of layers.1's input gradient from the fp16 loss gradient and working W1:
  // how many of its elements are nonzero but below fp16's smallest normal.
  int64_t reference_underflow() {
    const std::vector<float> dy = to_host_floats(*be, loss.grad());
    const std::vector<float> w = to_host_floats(*be, model->find_param("layers.1.weight")->working);
    int64_t n = 0;
    for (int64_t r = 0; r < kBatch; ++r)
      for (int64_t i = 0; i < kHidden; ++i) {
        double s = 0;
        for (int64_t o = 0; o < kOut; ++o) s += double(dy[size_t(r * kOut + o)]) * w[size_t(o * kHidden + i)];
        n += s != 0.0 && std::abs(s) < kF16MinNormal;
      }
    return n;
  }
};

}  // namespace

TEST_CASE("counting rules: underflow, overflow and near-max against fp16, bf16 and fp32") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  // e: fp32 values before rounding; each dtype's stored values are their RNE roundings.
  const std::vector<float> e = {0.0f, 1e-8f, -3e-5f, 6.2e-5f, 1.0f, 40000.0f, -70000.0f, -inf, nan, 1e-30f};
  std::vector<float> h, b;
  for (float v : e) {
    h.push_back(round_to<half>(v));
    b.push_back(round_to<bfloat16>(v));
  }
  // fp16: 1e-8 flushes to 0, -3e-5 and 1e-30 (-> 0) underflow; 6.2e-5 is normal; 0 is not counted.
  const TelemetryRow rh = rounding_row(e, h, DType::F16);
  CHECK(rh.numel == 10);
  CHECK(rh.underflow == 3);
  CHECK(rh.overflow == 3);  // -70000 -> -inf, -inf, NaN
  CHECK(rh.near_max == 4);  // 40000 >= 65504 / 2, -70000, -inf, NaN
  CHECK(rh.max_abs == inf);
  // bf16 has fp32's exponent range: only 1e-30 is near its limits, and it is normal in bf16.
  const TelemetryRow rb = rounding_row(e, b, DType::BF16);
  CHECK(rb.underflow == 0);
  CHECK(rb.overflow == 2);
  CHECK(rb.near_max == 2);
  // fp32 (e = s): only fp32 subnormals count as underflow.
  const std::vector<float> f = {1e-40f, -1e-39f, 1e-37f, 0.0f, 3e38f};
  const TelemetryRow rf = rounding_row(f, f, DType::F32);
  CHECK(rf.underflow == 2);
  CHECK(rf.overflow == 0);
  CHECK(rf.near_max == 1);
  CHECK(rf.max_abs == doctest::Approx(3e38));
  // A value that is nonzero in fp32 but stored as exactly 0 counts, whatever produced the 0.
  CHECK(rounding_row({1e-3f}, {0.0f}, DType::F16).underflow == 1);
}

TEST_CASE("fp16 activation gradients underflow at S = 1 and not at the dynamic scaler's S") {
  TinyGradModel m;
  PrecisionSpec ps;
  ps.policy = "fp16";
  ps.loss_scale.mode = "none";
  const double s_none = LossScaler::from_policy(resolve_dtype_policy(ps), ps.loss_scale).scale();
  ps.loss_scale.mode = "auto";  // fp16: dynamic
  const double s_dyn = LossScaler::from_policy(resolve_dtype_policy(ps), ps.loss_scale).scale();
  REQUIRE(s_none == 1.0);
  REQUIRE(s_dyn == 65536.0);

  const std::vector<TelemetryRow> at1 = m.probe(s_none);
  const int64_t want1 = m.reference_underflow();
  const TelemetryRow* g1 = find_row(at1, "layers.1", RoundingPoint::InputGrad);
  REQUIRE(g1 != nullptr);
  CHECK(g1->dtype == DType::F16);
  CHECK(g1->numel == TinyGradModel::kBatch * TinyGradModel::kHidden);
  CHECK(g1->loss_scale == 1.0);
  CHECK(frac(g1->underflow, *g1) > 0.5);
  CHECK(std::abs(g1->underflow - want1) <= 2);  // rounding at the 2^-14 boundary aside
  CHECK(g1->overflow == 0);
  // The loss gradient itself (~6e-4) is still normal in fp16 at S = 1.
  const TelemetryRow* l1 = find_row(at1, "loss", RoundingPoint::InputGrad);
  REQUIRE(l1 != nullptr);
  CHECK(l1->underflow == 0);
  CHECK(l1->max_abs == doctest::Approx(m.loss_grad_max).epsilon(1e-5));

  const std::vector<TelemetryRow> atS = m.probe(s_dyn);
  CHECK(m.reference_underflow() == 0);
  const TelemetryRow* gS = find_row(atS, "layers.1", RoundingPoint::InputGrad);
  REQUIRE(gS != nullptr);
  CHECK(gS->loss_scale == 65536.0);
  CHECK(frac(gS->underflow, *gS) < 0.01);
  CHECK(gS->near_max == 0);
  CHECK(gS->max_abs == doctest::Approx(g1->max_abs * 65536.0).epsilon(0.05));
  // The first layer's input gradient is never computed: no row.
  CHECK(find_row(atS, "layers.0", RoundingPoint::InputGrad) == nullptr);
}

TEST_CASE("forward outputs beyond 65504 overflow fp16 and not bf16") {
  for (DType d : {DType::F16, DType::BF16}) {
    CAPTURE(dtype_name(d));
    auto be = make_cpu_backend(1);
    ModelOptions opt;
    opt.compute = d;
    auto model = Model::build(*be, {linear(4)}, {16}, opt);
    // Outputs 0 and 1: 1000 x sum(x) in [80000, 160000]; outputs 2 and 3: sum(x) in [80, 160].
    std::vector<float> w(64, 1000.0f);
    std::fill(w.begin() + 32, w.end(), 1.0f);
    set_param(*be, *model->find_param("layers.0.weight"), w);
    std::mt19937_64 g(9);
    const std::vector<float> xv = random_values(3 * 16, g, 5.0, 10.0, false);
    Tensor x = from_host_floats(*be, xv, {3, 16}, DType::F32);
    double ref_max = 0;  // fp64 reference of max |y| from the inputs as rounded to D
    for (int r = 0; r < 3; ++r) {
      double s = 0;
      for (int i = 0; i < 16; ++i)
        s += 1000.0 * (d == DType::F16 ? round_to<half>(xv[r * 16 + i]) : round_to<bfloat16>(xv[r * 16 + i]));
      ref_max = std::max(ref_max, s);
    }
    TelemetryProbe p(*be, 1, 1.0);
    Context ctx{*be, true, 1, 0};
    ctx.probe = &p;
    model->forward(ctx, x);
    const TelemetryRow* out = find_row(p.rows(), "layers.0", RoundingPoint::Output);
    REQUIRE(out != nullptr);
    CHECK(out->max_abs == doctest::Approx(ref_max).epsilon(1e-5));
    const TelemetryRow* cast = find_row(p.rows(), "layers.0", RoundingPoint::InputCast);
    REQUIRE(cast != nullptr);  // the fp32 batch is cast into D
    CHECK(cast->underflow == 0);
    if (d == DType::F16) {
      CHECK(frac(out->overflow, *out) == 0.5);
      CHECK(frac(out->near_max, *out) == 0.5);
    } else {
      CHECK(out->overflow == 0);
      CHECK(out->near_max == 0);
    }
  }
}

TEST_CASE("a probe pass leaves outputs and gradients bit-identical and reports every rounding point") {
  // layernorm (its backward accumulates dgamma/dbeta: a recompute must not add twice), residual,
  // dropout, gelu, an fp32-override dropout (casts at both of its boundaries) and a bf16 rest.
  LayerSpec res = plain("residual");
  res.children = {linear(8), plain("gelu")};
  LayerSpec drop = plain("dropout");
  drop.params["p"] = ParamValue(0.25);
  LayerSpec ln = plain("layernorm");
  ln.params["name"] = ParamValue(std::string("ln"));
  const std::vector<LayerSpec> layers = {linear(8), ln, res, drop, linear(3)};
  auto run = [&](bool probe, std::vector<TelemetryRow>* rows) {
    auto be = make_cpu_backend(1);
    ModelOptions opt;
    opt.compute = DType::BF16;
    opt.fp32_layers = {"layers.3"};
    opt.seed = 4;
    auto model = Model::build(*be, layers, {5}, opt);
    std::mt19937_64 g(1);
    for (Parameter* p : model->params())
      set_param(*be, *p, random_values(size_t(p->master.numel()), g, 0.1, 0.9, true));
    Tensor x = from_host_floats(*be, random_values(6 * 5, g, 0.1, 1.0, true), {6, 5}, DType::F32);
    Tensor t = from_host_floats(*be, random_values(6 * 3, g, 0.1, 1.0, true), {6, 3}, DType::F32);
    TelemetryProbe p(*be, 7, 8.0);
    Context ctx{*be, true, 2, 0};
    if (probe) ctx.probe = &p;
    MseLoss loss, shadow;
    const Tensor& out = model->forward(ctx, x);
    std::vector<float> result = to_host_floats(*be, out);
    loss.compute(*be, out, t, 8.0f / 6, true);
    if (probe) p.observe_loss_grad(shadow, out, t, 8.0f / 6, loss.grad());
    model->backward(ctx, loss.grad());
    for (Parameter* q : model->params()) {
      const std::vector<float> gv = to_host_floats(*be, q->grad);
      result.insert(result.end(), gv.begin(), gv.end());
    }
    if (rows) *rows = p.rows();
    return result;
  };
  std::vector<TelemetryRow> rows;
  const std::vector<float> plain_run = run(false, nullptr), probed = run(true, &rows);
  REQUIRE(plain_run.size() == probed.size());
  CHECK(std::memcmp(plain_run.data(), probed.data(), plain_run.size() * sizeof(float)) == 0);

  std::vector<std::string> seen;
  for (const TelemetryRow& r : rows)
    seen.push_back(r.layer + ":" + rounding_point_name(r.point) + ":" + std::string(dtype_name(r.dtype)));
  const std::vector<std::string> want = {
      // forward (the cast into the fp32 dropout is exact: no row)
      "layers.0:in_cast:bf16", "layers.0:out:bf16", "ln:out:bf16", "layers.2.0:out:bf16",
      "layers.2.1:out:bf16", "layers.2:out:bf16", "layers.3:out:fp32", "layers.4:in_cast:bf16",
      "layers.4:out:bf16",
      // backward (layers.0 computes no input gradient)
      "loss:grad:bf16", "layers.4:grad:bf16", "layers.3:grad:fp32", "layers.2:grad_cast:bf16",
      "layers.2.1:grad:bf16", "layers.2.0:grad:bf16", "layers.2:grad:bf16", "ln:grad:bf16"};
  CHECK(seen == want);
  for (const TelemetryRow& r : rows) {
    CHECK(r.step == 7);
    CHECK(r.loss_scale == 8.0);
    CHECK(r.underflow + r.overflow + r.near_max == 0);  // ordinary magnitudes
  }
}

TEST_CASE("telemetry.csv header and lines") {
  CHECK(telemetry_csv_header() ==
        "step,layer,quantity,dtype,loss_scale,numel,underflow_frac,overflow_frac,near_max_frac,max_abs");
  TelemetryRow r;
  r.step = 30;
  r.layer = "layers.3";
  r.point = RoundingPoint::InputGrad;
  r.dtype = DType::F16;
  r.loss_scale = 65536;
  r.numel = 8;
  r.underflow = 6;
  r.overflow = 1;
  r.near_max = 2;
  r.max_abs = std::numeric_limits<double>::infinity();
  CHECK(telemetry_csv_line(r) == "30,layers.3,grad,fp16,65536,8,0.75,0.125,0.25,inf");
  r.layer = "odd,\"name\"";
  CHECK(telemetry_csv_line(r).rfind("30,\"odd,\"\"name\"\"\",grad,", 0) == 0);
  TelemetryRow empty;
  empty.layer = "e";
  CHECK(telemetry_csv_line(empty) == "0,e,out,fp32,1,0,0,0,0,0");
}
