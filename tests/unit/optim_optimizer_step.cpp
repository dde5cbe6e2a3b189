// optim_optimizer_step.cpp: the post-backward sequence on the CPU backend: skipped steps are
// exactly as if they never happened (parameters bit for bit, LR schedule not advanced, final
// scale = init x growth^grown x backoff^skipped), clipping sees unscaled gradients, the found_inf
// reduction decides, and a mid-run state round trip continues identically. With a scale below 1,
// finite gradients that overflow when unscaled skip the step (counted; a dynamic scale is kept, not
// backed off; the skip-limit message says so); gradients whose fp32 squares overflow get a finite
// fp64 norm and are clipped.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"
#include "optim/grad_clip.h"
#include "optim/optimizer_step.h"
#include "unit/optim_fixtures.h"

using namespace mp;
using mp::testing::ParamSet;
using mp::testing::snapshot;
using mp::testing::synthetic;

namespace {

// Four parameters: fp32 master with bf16 working copy, fp32 master with fp16 working copy
// (no decay), plain fp32, and pure bf16 (stochastically rounded updates: its random stream must
// follow applied steps, so skips and restores do not shift it).
void add_params(Backend& be, ParamSet& ps) {
  ps.add(be, "w", {3, 5}, DType::BF16, true, true, synthetic(1, 15));
  ps.add(be, "b", {7}, DType::F16, true, false, synthetic(2, 7));
  ps.add(be, "f", {4}, DType::F32, true, true, synthetic(3, 4));
  ps.add(be, "s", {64}, DType::BF16, false, true, synthetic(4, 64));
}

OptimizerSpec adamw_spec() {
  OptimizerSpec s;
  s.type = "adamw";
  s.weight_decay = 0.1;
  return s;
}

ScheduleSpec cosine_spec() {
  ScheduleSpec s;
  s.type = "cosine";
  s.warmup_steps = 3;
  s.min_lr_ratio = 0.1;
  return s;
}

LossScaleSpec dyn_spec() {
  LossScaleSpec s;
  s.init = 1024.0;
  s.growth_factor = 2.0;
  s.backoff_factor = 0.5;
  s.growth_interval = 3;
  return s;
}

// Runs `attempts` attempted steps. The backward of the k-th applied step (k = applied count)
// produces gradients g_k x S, so an overflow-skipped step is retried with the same g_k.
std::vector<StepOutcome> run(Backend& be, const ParamList& params, Optimizer& opt,
                             const LrSchedule& sched, LossScaler& scaler, int attempts,
                             const std::vector<int64_t>& inject, double clip = 0.0) {
  std::vector<StepOutcome> outs;
  for (int i = 0; i < attempts; ++i) {
    mp::testing::set_synthetic_grads(be, params, static_cast<uint64_t>(opt.applied_steps()) + 50,
                                     static_cast<float>(scaler.scale()));
    outs.push_back(optimizer_step(be, params, opt, sched, 20, scaler, clip, found_inf_local,
                                  inject));
  }
  return outs;
}

}  // namespace

TEST_CASE("skipped steps are exactly as if they were never attempted") {
  auto be = make_cpu_backend(2);
  const LrSchedule sched(cosine_spec(), 1e-2);

  // Injected: overflows at attempted steps 3, 4 and 9 of 12.
  ParamSet a;
  add_params(*be, a);
  auto opt_a = make_optimizer(adamw_spec(), 1);
  LossScaler sc_a(LossScaleMode::Dynamic, dyn_spec());
  const std::vector<StepOutcome> outs = run(*be, a.list, *opt_a, sched, sc_a, 12, {3, 4, 9});

  // Control: the 9 clean steps alone, without loss scaling.
  ParamSet c;
  add_params(*be, c);
  auto opt_c = make_optimizer(adamw_spec(), 1);
  LossScaler sc_c(LossScaleMode::None, LossScaleSpec{});
  const std::vector<StepOutcome> ctl = run(*be, c.list, *opt_c, sched, sc_c, 9, {});

  CHECK(snapshot(*be, a.list) == snapshot(*be, c.list));
  for (const std::string& slot : opt_a->slot_names())
    for (const std::string& name : opt_a->param_names())
      CHECK(opt_a->get_slot(*be, slot, name) == opt_c->get_slot(*be, slot, name));
  CHECK(opt_a->applied_steps() == 9);
  CHECK(sc_a.total_skips() == 3);

  // Outcomes: skipped flags, attempted numbering, NaN norm, LR not advanced by skips.
  size_t k = 0;  // index into the control's applied steps
  for (size_t i = 0; i < outs.size(); ++i) {
    const StepOutcome& o = outs[i];
    CAPTURE(i);
    CHECK(o.attempted_step == static_cast<int64_t>(i) + 1);
    const bool injected = o.attempted_step == 3 || o.attempted_step == 4 || o.attempted_step == 9;
    CHECK(o.skipped == injected);
    CHECK(o.lr == sched.lr(static_cast<int64_t>(k), 20));  // the schedule sits still on a skip
    if (o.skipped) {
      CHECK(std::isnan(o.grad_norm));
      CHECK(o.new_loss_scale == o.loss_scale / 2);
    } else {
      CHECK(o.lr == ctl[k].lr);
      CHECK(o.grad_norm == ctl[k].grad_norm);  // norms of unscaled grads agree bit for bit
      ++k;
    }
    CHECK(o.applied_steps == static_cast<int64_t>(k));
    CHECK(o.skipped_steps == static_cast<int64_t>(i + 1 - k));
  }
  // Scale: clean 1,2 | skip 3 (512) | skip 4 (256) | clean 5,6,7 -> grow (512) | clean 8 |
  // skip 9 (256) | clean 10,11,12 -> grow (512). grown = 2, skipped = 3.
  CHECK(sc_a.scale() == 1024.0 * std::pow(2.0, 2) * std::pow(0.5, 3));
  // The gradients were zeroed for the next accumulation.
  for (const Parameter* p : a.list)
    CHECK(to_host_floats(*be, p->grad) == std::vector<float>(static_cast<size_t>(p->grad.numel()), 0.0f));
}

TEST_CASE("the all-reduced found_inf decides: a finite rank skips when another overflowed") {
  auto be = make_cpu_backend(1);
  ParamSet ps;
  add_params(*be, ps);
  const std::vector<uint32_t> before = snapshot(*be, ps.list);
  auto opt = make_optimizer(adamw_spec(), 1);
  const LrSchedule sched(cosine_spec(), 1e-2);
  LossScaler sc(LossScaleMode::Dynamic, dyn_spec());
  mp::testing::set_synthetic_grads(*be, ps.list, 1, 1024.0f);
  bool seen_local = true;
  const StepOutcome o = optimizer_step(
      *be, ps.list, *opt, sched, 20, sc, 0.0,
      [&](bool local) {
        seen_local = local;
        return true;  // another rank overflowed
      },
      {});
  CHECK_FALSE(seen_local);
  CHECK(o.skipped);
  CHECK(snapshot(*be, ps.list) == before);
  CHECK(opt->applied_steps() == 0);
  CHECK(sc.scale() == 512.0);
}

TEST_CASE("a real inf or NaN in a gradient is caught, skipped, and grads are zeroed") {
  auto be = make_cpu_backend(1);
  ParamSet ps;
  add_params(*be, ps);
  const std::vector<uint32_t> before = snapshot(*be, ps.list);
  auto opt = make_optimizer(adamw_spec(), 1);
  const LrSchedule sched(cosine_spec(), 1e-2);
  LossScaler sc(LossScaleMode::None, LossScaleSpec{});
  for (float bad : {std::nanf(""), -INFINITY}) {
    mp::testing::set_synthetic_grads(*be, ps.list, 1, 1.0f);
    std::vector<float> g = to_host_floats(*be, ps.list[1]->grad);
    g[3] = bad;
    be->upload(g.data(), ps.list[1]->grad);
    const StepOutcome o =
        optimizer_step(*be, ps.list, *opt, sched, 20, sc, 1.0, found_inf_local, {});
    CHECK(o.skipped);
    CHECK(o.loss_scale == 1.0);
  }
  CHECK(snapshot(*be, ps.list) == before);
  CHECK(sc.total_skips() == 2);
  CHECK(to_host_floats(*be, ps.list[1]->grad) == std::vector<float>(7, 0.0f));
}

TEST_CASE("clipping sees unscaled gradients: static scale 1 and 1024 give identical updates") {
  auto be = make_cpu_backend(2);
  const LrSchedule sched(ScheduleSpec{}, 0.05);
  OptimizerSpec sgd;
  sgd.type = "sgd";
  sgd.momentum = 0.9;
  auto run_with = [&](double scale, double clip, std::vector<StepOutcome>& outs) {
    ParamSet ps;
    add_params(*be, ps);
    auto opt = make_optimizer(sgd, 1);
    LossScaleSpec st;
    st.value = scale;
    LossScaler sc(scale == 1.0 ? LossScaleMode::None : LossScaleMode::Static, st);
    outs = run(*be, ps.list, *opt, sched, sc, 4, {}, clip);
    return snapshot(*be, ps.list);
  };
  std::vector<StepOutcome> o1, o1024, unclipped;
  const auto s1 = run_with(1.0, 0.5, o1);
  const auto s1024 = run_with(1024.0, 0.5, o1024);
  const auto s_free = run_with(1.0, 0.0, unclipped);
  CHECK(s1 == s1024);
  CHECK(s1 != s_free);  // clipping was active
  for (size_t i = 0; i < o1.size(); ++i) {
    CHECK(o1[i].grad_norm == o1024[i].grad_norm);
    CHECK(o1[i].grad_norm > 0.5);
    CHECK(o1[i].grad_norm == unclipped[i].grad_norm);  // the pre-clip norm is reported
    CHECK(o1024[i].loss_scale == 1024.0);
  }
}

TEST_CASE("optimizer and scaler state round trip mid-sequence continues identically") {
  auto be = make_cpu_backend(2);
  const LrSchedule sched(cosine_spec(), 1e-2);
  const std::vector<int64_t> inject = {2, 7, 8};

  ParamSet full;
  add_params(*be, full);
  auto opt_full = make_optimizer(adamw_spec(), 5);
  LossScaler sc_full(LossScaleMode::Dynamic, dyn_spec());
  run(*be, full.list, *opt_full, sched, sc_full, 11, inject);

  // First half, then everything a checkpoint holds goes to host memory.
  ParamSet first;
  add_params(*be, first);
  auto opt1 = make_optimizer(adamw_spec(), 5);
  LossScaler sc1(LossScaleMode::Dynamic, dyn_spec());
  run(*be, first.list, *opt1, sched, sc1, 5, inject);
  std::vector<std::vector<float>> masters;
  for (const Parameter* p : first.list) masters.push_back(to_host_floats(*be, p->master));
  std::vector<std::vector<float>> slots;
  for (const std::string& s : opt1->slot_names())
    for (const std::string& n : opt1->param_names()) slots.push_back(opt1->get_slot(*be, s, n));
  const int64_t applied = opt1->applied_steps();
  const LossScalerState st = sc1.state();

  // A fresh process: new backend, parameters, optimizer, scaler; restore and continue.
  auto be2 = make_cpu_backend(1);
  ParamSet second;
  add_params(*be2, second);
  for (size_t i = 0; i < second.list.size(); ++i)
    set_parameter_values(*be2, *second.list[i],
                         from_host_floats(*be2, masters[i], second.list[i]->master.shape(),
                                          DType::F32));
  auto opt2 = make_optimizer(adamw_spec(), 5);
  opt2->init_state(*be2, second.list);
  size_t j = 0;
  for (const std::string& s : opt2->slot_names())
    for (const std::string& n : opt2->param_names()) opt2->set_slot(*be2, s, n, slots[j++]);
  opt2->set_applied_steps(applied);
  LossScaler sc2(LossScaleMode::Dynamic, dyn_spec());
  sc2.set_state(st);
  const std::vector<StepOutcome> rest = run(*be2, second.list, *opt2, sched, sc2, 6, inject);
  CHECK(rest.front().attempted_step == 6);
  CHECK(rest[1].skipped);  // attempted step 7 is injected: the count survived the restore
  CHECK(snapshot(*be, full.list) == snapshot(*be2, second.list));
  CHECK(sc2.scale() == sc_full.scale());
  CHECK(sc2.total_skips() == sc_full.total_skips());
}

TEST_CASE("too many consecutive overflows end the run with NumericalError") {
  auto be = make_cpu_backend(1);
  ParamSet ps;
  add_params(*be, ps);
  auto opt = make_optimizer(adamw_spec(), 1);
  const LrSchedule sched(ScheduleSpec{}, 1e-3);
  LossScaleSpec s = dyn_spec();
  s.max_consecutive_skips = 3;
  LossScaler sc(LossScaleMode::Dynamic, s);
  run(*be, ps.list, *opt, sched, sc, 2, {1, 2, 3});
  CHECK_THROWS_AS(run(*be, ps.list, *opt, sched, sc, 1, {1, 2, 3}), NumericalError);
}

namespace {

OptimizerSpec plain_sgd() {
  OptimizerSpec s;
  s.type = "sgd";
  return s;
}

// Every gradient small and finite, then `big` at one element of the first parameter.
void set_grads_with(Backend& be, const ParamList& params, float scale, float big) {
  mp::testing::set_synthetic_grads(be, params, 1, scale);
  std::vector<float> g = to_host_floats(be, params[0]->grad);
  g[4] = big;
  be.upload(g.data(), params[0]->grad);
}

std::string skip_limit_message(Backend& be, const ParamList& params, Optimizer& opt,
                               const LrSchedule& sched, LossScaler& sc, float big) {
  try {
    for (int i = 0; i < 10; ++i) {
      set_grads_with(be, params, static_cast<float>(sc.scale()), big);
      optimizer_step(be, params, opt, sched, 20, sc, 0.0, found_inf_local, {});
    }
  } catch (const NumericalError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("static scale 0.25: finite gradients that unscale to inf skip the step, counted") {
  auto be = make_cpu_backend(2);
  for (const char* type : {"adamw", "sgd"}) {
    CAPTURE(type);
    ParamSet ps;
    add_params(*be, ps);
    const std::vector<uint32_t> before = snapshot(*be, ps.list);
    OptimizerSpec os = adamw_spec();
    os.type = type;
    auto opt = make_optimizer(os, 1);
    const LrSchedule sched(cosine_spec(), 1e-2);
    LossScaleSpec st;
    st.value = 0.25;
    LossScaler sc(LossScaleMode::Static, st);
    // 0.6 x FLT_MAX is finite as the backward left it; times 1/0.25 = 4 it is not.
    const float big = 0.6f * std::numeric_limits<float>::max();
    set_grads_with(*be, ps.list, 0.25f, big);
    const StepOutcome o =
        optimizer_step(*be, ps.list, *opt, sched, 20, sc, 1.0, found_inf_local, {});
    CHECK(o.skipped);
    CHECK(std::isnan(o.grad_norm));
    CHECK(o.lr == sched.lr(0, 20));
    CHECK(o.loss_scale == 0.25);
    CHECK(o.new_loss_scale == 0.25);
    CHECK(o.skipped_steps == 1);
    CHECK(o.applied_steps == 0);
    CHECK(snapshot(*be, ps.list) == before);
    for (const Parameter* p : ps.list)
      CHECK(to_host_floats(*be, p->grad) == std::vector<float>(size_t(p->grad.numel()), 0.0f));
    // An eighth of it unscales to 0.3 x FLT_MAX: finite, so the step applies; the norm (> 1e38)
    // is clipped to 1 and every parameter stays finite.
    set_grads_with(*be, ps.list, 0.25f, big / 8);
    const StepOutcome ok =
        optimizer_step(*be, ps.list, *opt, sched, 20, sc, 1.0, found_inf_local, {});
    CHECK_FALSE(ok.skipped);
    CHECK(ok.attempted_step == 2);
    CHECK(ok.grad_norm > 1e38);
    CHECK(std::isfinite(ok.grad_norm));
    CHECK(snapshot(*be, ps.list) != before);
    for (const Parameter* p : ps.list)
      for (float v : to_host_floats(*be, p->master)) REQUIRE(std::isfinite(v));
  }
}

TEST_CASE("dynamic scale below 1: an unscaling overflow is skipped without backing off") {
  auto be = make_cpu_backend(1);
  ParamSet ps;
  add_params(*be, ps);
  const std::vector<uint32_t> before = snapshot(*be, ps.list);
  auto opt = make_optimizer(plain_sgd(), 1);
  const LrSchedule sched(ScheduleSpec{}, 1e-3);
  LossScaleSpec s = dyn_spec();
  s.init = 0.25;
  s.min_scale = 0.125;
  s.hysteresis = 2;
  LossScaler sc(LossScaleMode::Dynamic, s);
  // Two clean steps grow the tracker, then an unscaling overflow: skipped, counted, S and the
  // hysteresis tracker kept (a smaller S cannot make g / S finite), growth tracker reset.
  const std::vector<StepOutcome> clean = run(*be, ps.list, *opt, sched, sc, 2, {});
  CHECK(sc.state().growth_tracker == 2);
  const std::vector<uint32_t> after_clean = snapshot(*be, ps.list);
  CHECK(after_clean != before);
  set_grads_with(*be, ps.list, 0.25f, 0.6f * std::numeric_limits<float>::max());
  const StepOutcome o = optimizer_step(*be, ps.list, *opt, sched, 20, sc, 0.0, found_inf_local, {});
  CHECK(o.skipped);
  CHECK(o.new_loss_scale == 0.25);
  CHECK(sc.total_skips() == 1);
  CHECK(sc.consecutive_skips() == 1);
  CHECK(sc.state().growth_tracker == 0);
  CHECK(sc.state().hysteresis_tracker == 2);
  CHECK(snapshot(*be, ps.list) == after_clean);
  CHECK(opt->applied_steps() == 2);
  // A gradient non-finite as the backward left it is a scaled overflow: hysteresis 2, then backoff
  // to min_scale.
  const std::vector<StepOutcome> inj = run(*be, ps.list, *opt, sched, sc, 2, {4, 5});
  CHECK(inj[0].skipped);
  CHECK(inj[0].new_loss_scale == 0.25);
  CHECK(inj[1].skipped);
  CHECK(inj[1].new_loss_scale == 0.125);
  CHECK(sc.total_skips() == 3);
  CHECK(snapshot(*be, ps.list) == after_clean);
}

TEST_CASE("the skip-limit message names the unscaling overflow, advises no smaller scale") {
  auto be = make_cpu_backend(1);
  const LrSchedule sched(ScheduleSpec{}, 1e-3);
  for (LossScaleMode mode : {LossScaleMode::Static, LossScaleMode::Dynamic}) {
    ParamSet ps;
    add_params(*be, ps);
    auto opt = make_optimizer(plain_sgd(), 1);
    LossScaleSpec s = dyn_spec();
    s.value = 0.5;
    s.init = 0.5;
    s.min_scale = 0.5;
    s.max_consecutive_skips = 3;
    LossScaler sc(mode, s);
    const std::string msg =
        skip_limit_message(*be, ps.list, *opt, sched, sc, 0.6f * std::numeric_limits<float>::max());
    CAPTURE(msg);
    CHECK(msg.find("3 consecutive optimizer steps") != std::string::npos);
    CHECK(msg.find("unscaled") != std::string::npos);
    CHECK(msg.find("no loss scale can fix") != std::string::npos);
    CHECK(msg.find("smaller precision.loss_scale.value") == std::string::npos);
    CHECK(sc.scale() == 0.5);
    CHECK(opt->applied_steps() == 0);
  }
}

TEST_CASE("gradients whose squares overflow fp32: finite fp64 norm, clipping applies") {
  // |g| = 1e20 is an ordinary finite fp32 value, but g * g = 1e40 is not.
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    auto be = make_cpu_backend(threads);
    ParamSet ps;
    ps.add(*be, "w", {40, 100}, DType::F16, true, true, synthetic(1, 4000));
    ps.add(*be, "b", {9}, DType::F32, true, false, synthetic(2, 9));
    mp::testing::set_synthetic_grads(*be, ps.list, 3, 1.0f);
    std::vector<std::vector<float>> g;
    for (const Parameter* p : ps.list) g.push_back(to_host_floats(*be, p->grad));
    g[0][17] = 1e20f;
    g[0][3999] = -3e19f;
    g[1][8] = 2e20f;
    double ref = 0.0;
    for (size_t k = 0; k < g.size(); ++k) {
      be->upload(g[k].data(), ps.list[k]->grad);
      for (float v : g[k]) ref += static_cast<double>(v) * v;
    }
    ref = std::sqrt(ref);
    const std::vector<std::vector<float>> p0 = {to_host_floats(*be, ps.list[0]->master),
                                                to_host_floats(*be, ps.list[1]->master)};
    CHECK(global_grad_norm(*be, ps.list) == doctest::Approx(ref).epsilon(1e-14));
    auto opt = make_optimizer(plain_sgd(), 1);
    const LrSchedule sched(ScheduleSpec{}, 0.5);
    LossScaler sc(LossScaleMode::None, LossScaleSpec{});
    const StepOutcome o =
        optimizer_step(*be, ps.list, *opt, sched, 20, sc, 1.0, found_inf_local, {});
    REQUIRE_FALSE(o.skipped);
    CHECK(std::isfinite(o.grad_norm));
    CHECK(o.grad_norm == doctest::Approx(ref).epsilon(1e-14));
    // Clipped to norm 1: the update is lr x g x coef, coef = 1 / (norm + 1e-6) as fp32.
    const float coef = static_cast<float>(1.0 / (o.grad_norm + 1e-6));
    double moved = 0.0;
    for (size_t k = 0; k < g.size(); ++k) {
      const std::vector<float> p1 = to_host_floats(*be, ps.list[k]->master);
      for (size_t i = 0; i < p1.size(); ++i) {
        const double d = (static_cast<double>(p0[k][i]) - p1[i]) / 0.5;
        moved += d * d;
        const double want = static_cast<double>(g[k][i] * coef);
        REQUIRE(d == doctest::Approx(want).epsilon(1e-5).scale(1e-6));
      }
    }
    CHECK(std::sqrt(moved) == doctest::Approx(1.0).epsilon(1e-3));
  }
}
