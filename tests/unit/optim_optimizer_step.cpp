// optim_optimizer_step.cpp: the post-backward sequence on the CPU backend: skipped steps are
// exactly as if they never happened (parameters bit for bit, LR schedule not advanced, final
// scale = init x growth^grown x backoff^skipped), clipping sees unscaled gradients, the found_inf
// reduction decides, and a mid-run state round trip continues identically.
#include <doctest/doctest.h>

#include <cmath>

#include "core/error.h"
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
    const StepOutcome o = optimizer_step(*be, ps.list, *opt, sched, 20, sc, 1.0, found_inf_local, {});
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
