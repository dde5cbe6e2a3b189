// optim_cuda_parity.cpp: whole-model parity between the CUDA and CPU engines through nn, precision
// and optim: a small network (linear, GELU, layernorm, dropout, linear, ReLU, linear) built with
// the same seed on both -- initial parameters, forward output, loss, every parameter gradient and
// the parameters after one optimizer step (fp32, mixed bf16 and fp16 with loss scaling, pure
// bf16 with stochastic rounding) -- and a 60-step training run on both whose losses agree step
// by step within the policy's tolerance. Comparisons are relative L2 errors.
// Without a CUDA device this prints "SKIPPED: no CUDA device" and exits 77 (ctest: skipped).
#include <doctest/doctest.h>

#include <cmath>

#include "nn/loss.h"
#include "nn/model.h"
#include "optim/lr_schedule.h"
#include "optim/optimizer.h"
#include "optim/optimizer_step.h"
#include "precision/loss_scaler.h"
#include "unit/cuda_parity_util.h"

using namespace mp;
using namespace mp::cuda_test;

namespace {

[[maybe_unused]] const int kSkipped = skip_without_gpu();

LayerSpec layer(const std::string& type, std::map<std::string, ParamValue> kv = {}) {
  LayerSpec s = default_layer_spec(type);
  for (auto& [k, v] : kv) s.params[k] = v;
  s.where = "test";
  return s;
}

std::vector<LayerSpec> net(bool with_dropout) {
  std::vector<LayerSpec> l = {layer("linear", {{"out", int64_t(64)}}), layer("gelu"),
                              layer("layernorm")};
  if (with_dropout) l.push_back(layer("dropout", {{"p", 0.1}}));
  for (auto&& s : {layer("linear", {{"out", int64_t(32)}}), layer("relu"),
                   layer("linear", {{"out", int64_t(10)}})})
    l.push_back(s);
  return l;
}

struct Policy {
  const char* name;
  DType compute;
  bool master_fp32;
  LossScaleMode scale;
  double tol;  // relative L2 tolerance of outputs and gradients
};

const Policy kPolicies[] = {
    {"fp32", DType::F32, true, LossScaleMode::None, 1e-5},
    {"bf16", DType::BF16, true, LossScaleMode::None, 3e-2},
    {"fp16", DType::F16, true, LossScaleMode::Static, 5e-3},
    {"bf16 pure", DType::BF16, false, LossScaleMode::None, 3e-2},
};

double rel_l2(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(a[i]) * a[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

void check_rel(const std::vector<float>& a, const std::vector<float>& b, double tol,
               const std::string& what) {
  const double e = rel_l2(a, b);
  CAPTURE(what);
  CHECK(e <= tol);
}

struct Side {
  Backend* be;
  std::unique_ptr<Model> model;
  std::unique_ptr<Loss> loss;
  std::unique_ptr<Optimizer> opt;
  std::unique_ptr<LossScaler> scaler;
  Tensor x, labels;
};

Side make_side(Backend& be, const Policy& pol, bool dropout, const std::string& opt_type) {
  Side s;
  s.be = &be;
  ModelOptions mo;
  mo.compute = pol.compute;
  mo.master_fp32 = pol.master_fp32;
  mo.seed = 11;
  s.model = Model::build(be, net(dropout), {20}, mo);
  s.loss = make_loss("cross_entropy", -100);
  OptimizerSpec os;
  os.type = opt_type;
  os.lr = opt_type == "sgd" ? 0.05 : 3e-3;
  os.momentum = opt_type == "sgd" ? 0.9 : 0.0;
  os.weight_decay = 0.01;
  s.opt = make_optimizer(os, 5);
  LossScaleSpec ls;
  ls.value = 1024.0;
  s.scaler = std::make_unique<LossScaler>(pol.scale, ls);
  return s;
}

void set_batch(Side& s, const std::vector<float>& x, const std::vector<int32_t>& y) {
  const int64_t b = int64_t(y.size());
  s.x = from_host_floats(*s.be, x, {b, 20}, DType::F32);
  s.labels = s.be->empty({b}, DType::I32);
  s.be->upload(y.data(), s.labels);
}

// Deterministic classification data: the label is the argmax of a fixed projection.
void batch_data(uint32_t seed, int64_t b, std::vector<float>& x, std::vector<int32_t>& y) {
  x = rnd(size_t(b * 20), -1, 1, seed);
  y.resize(size_t(b));
  for (int64_t i = 0; i < b; ++i) {
    int32_t best = 0;
    float bv = -1e30f;
    for (int c = 0; c < 10; ++c) {
      float v = 0;
      for (int k = 0; k < 20; ++k) v += x[size_t(i * 20 + k)] * std::sin(float(c * 20 + k));
      if (v > bv) bv = v, best = c;
    }
    y[size_t(i)] = best;
  }
}

// forward + loss + backward + optimizer step; returns the mean loss.
double train_step(Side& s, uint64_t offset, int64_t total_steps) {
  Context ctx{*s.be, true, 7, offset};
  const int64_t b = s.x.dim(0);
  const float grad_scale = float(s.scaler->scale() / double(b));
  const Tensor& out = s.model->forward(ctx, s.x);
  const double loss = s.loss->compute(*s.be, out, s.labels, grad_scale, true);
  s.model->backward(ctx, s.loss->grad());
  const LrSchedule sched(ScheduleSpec{}, s.opt->type() == "sgd" ? 0.05 : 3e-3);
  optimizer_step(*s.be, s.model->params(), *s.opt, sched, total_steps, *s.scaler, 0.0,
                 found_inf_local, {});
  return loss / double(b);
}

}  // namespace

TEST_CASE("cuda model parity: init, forward, loss, gradients and one step, every policy") {
  for (const Policy& pol : kPolicies) {
    const std::string policy = pol.name;
    CAPTURE(policy);
    Side c = make_side(cpu(), pol, true, "adamw"), g = make_side(gpu(), pol, true, "adamw");
    const ParamList& pc = c.model->params();
    const ParamList& pg = g.model->params();
    REQUIRE(pc.size() == pg.size());
    // Same initialisation (Philox uniform draws: equal up to the last bit of the bound scaling).
    for (size_t i = 0; i < pc.size(); ++i)
      check_rel(floats(cpu(), pc[i]->master), floats(gpu(), pg[i]->master), 1e-6,
                "init " + pc[i]->name);
    // From here on both start from the CPU's exact values.
    for (size_t i = 0; i < pc.size(); ++i)
      set_parameter_values(
          gpu(), *pg[i],
          from_host_floats(gpu(), floats(cpu(), pc[i]->master), pc[i]->master.shape(), DType::F32));
    std::vector<float> x;
    std::vector<int32_t> y;
    batch_data(3, 64, x, y);
    set_batch(c, x, y);
    set_batch(g, x, y);
    Context cc{cpu(), true, 7, 1}, cg{gpu(), true, 7, 1};
    const Tensor& oc = c.model->forward(cc, c.x);
    const Tensor& og = g.model->forward(cg, g.x);
    check_rel(floats(cpu(), oc), floats(gpu(), og), pol.tol, "forward output");
    const float gs = float(c.scaler->scale() / 64.0);
    const double lc = c.loss->compute(cpu(), oc, c.labels, gs, true);
    const double lg = g.loss->compute(gpu(), og, g.labels, gs, true);
    CHECK(std::fabs(lc - lg) <= pol.tol * std::fabs(lc));
    zero_grads(cpu(), pc);
    zero_grads(gpu(), pg);
    c.model->backward(cc, c.loss->grad());
    g.model->backward(cg, g.loss->grad());
    for (size_t i = 0; i < pc.size(); ++i)
      check_rel(floats(cpu(), pc[i]->grad), floats(gpu(), pg[i]->grad), 3 * pol.tol,
                "grad " + pc[i]->name);
    const LrSchedule sched(ScheduleSpec{}, 3e-3);
    const StepOutcome sc =
        optimizer_step(cpu(), pc, *c.opt, sched, 10, *c.scaler, 1.0, found_inf_local, {});
    const StepOutcome sg =
        optimizer_step(gpu(), pg, *g.opt, sched, 10, *g.scaler, 1.0, found_inf_local, {});
    CHECK(sc.skipped == sg.skipped);
    CHECK(std::fabs(sc.grad_norm - sg.grad_norm) <= 3 * pol.tol * sc.grad_norm);
    for (size_t i = 0; i < pc.size(); ++i) {
      check_rel(floats(cpu(), pc[i]->master), floats(gpu(), pg[i]->master), pol.tol,
                "after the step " + pc[i]->name);
      check_rel(floats(cpu(), pc[i]->working), floats(gpu(), pg[i]->working), pol.tol,
                "working copy " + pc[i]->name);
    }
  }
}

TEST_CASE("cuda model parity: a 60-step MLP training run gives the same loss curve") {
  for (const Policy& pol : kPolicies) {
    for (const char* opt : {"sgd", "adamw"}) {
      const std::string policy = pol.name, optimizer = opt;
      CAPTURE(policy);
      CAPTURE(optimizer);
      Side c = make_side(cpu(), pol, false, opt), g = make_side(gpu(), pol, false, opt);
      const ParamList& pc = c.model->params();
      const ParamList& pg = g.model->params();
      for (size_t i = 0; i < pc.size(); ++i)
        set_parameter_values(gpu(), *pg[i],
                             from_host_floats(gpu(), floats(cpu(), pc[i]->master),
                                              pc[i]->master.shape(), DType::F32));
      double first = 0, last_c = 0, last_g = 0;
      const double tol = pol.compute == DType::F32 ? 1e-3 : 5e-2;
      for (int step = 0; step < 60; ++step) {
        std::vector<float> x;
        std::vector<int32_t> y;
        batch_data(100 + uint32_t(step % 8), 128, x, y);
        set_batch(c, x, y);
        set_batch(g, x, y);
        last_c = train_step(c, uint64_t(step), 60);
        last_g = train_step(g, uint64_t(step), 60);
        if (step == 0) first = last_c;
        CAPTURE(step);
        CHECK(std::fabs(last_c - last_g) <= tol * std::fabs(last_c) + 1e-4);
      }
      MESSAGE(std::string(pol.name) << " " << std::string(opt) << ": loss " << first << " -> cpu "
                                    << last_c << ", cuda " << last_g);
      CHECK(last_c < 0.7 * first);  // it trains
      CHECK(last_g < 0.7 * first);
    }
  }
}
