// optim_optimizers.cpp: SGD and AdamW on the CPU backend against a scalar fp64 reimplementation
// (momentum, nesterov, weight decay only where Parameter::decay, bias correction from the
// optimizer's own step count), the master -> working cast, state slots, and the factory.
#include <doctest/doctest.h>

#include <cmath>

#include "core/error.h"
#include "optim/optimizer.h"
#include "unit/optim_fixtures.h"

using namespace mp;
using mp::testing::ParamSet;
using mp::testing::synthetic;

namespace {

// Scalar fp64 references of PyTorch's SGD (dampening 0) and AdamW.
struct RefSgd {
  double lr_unused = 0, momentum, wd;
  bool nesterov;
  std::vector<double> p, buf;
  void step(const std::vector<float>& g, double lr, bool decay) {
    for (size_t i = 0; i < p.size(); ++i) {
      double d = g[i] + (decay ? wd : 0.0) * p[i];
      if (momentum != 0.0) {
        buf[i] = momentum * buf[i] + d;
        d = nesterov ? d + momentum * buf[i] : buf[i];
      }
      p[i] -= lr * d;
    }
  }
};

struct RefAdamW {
  double b1, b2, eps, wd;
  int64_t t = 0;
  std::vector<double> p, m, v;
  void step(const std::vector<float>& g, double lr, bool decay) {
    ++t;
    const double bc1 = 1 - std::pow(b1, static_cast<double>(t));
    const double bc2 = 1 - std::pow(b2, static_cast<double>(t));
    for (size_t i = 0; i < p.size(); ++i) {
      p[i] *= 1 - lr * (decay ? wd : 0.0);
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * static_cast<double>(g[i]) * g[i];
      const double mhat = m[i] / bc1, vhat = v[i] / bc2;
      p[i] -= lr * mhat / (std::sqrt(vhat) + eps);
    }
  }
};

std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

void check_close(const std::vector<float>& got, const std::vector<double>& want, double rel) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i)
    CHECK(got[i] == doctest::Approx(want[i]).epsilon(rel).scale(1.0));
}

}  // namespace

TEST_CASE("SGD with momentum, nesterov and weight decay matches an fp64 reference") {
  auto be = make_cpu_backend(2);
  for (bool nesterov : {false, true}) {
    for (double momentum : {0.0, 0.9}) {
      if (nesterov && momentum == 0.0) continue;
      CAPTURE(nesterov);
      CAPTURE(momentum);
      OptimizerSpec spec;
      spec.type = "sgd";
      spec.momentum = momentum;
      spec.nesterov = nesterov;
      spec.weight_decay = 0.05;
      auto opt = make_optimizer(spec, 7);
      ParamSet ps;
      const std::vector<float> w0 = synthetic(1, 12), b0 = synthetic(2, 5);
      ps.add(*be, "w", {3, 4}, DType::F32, true, true, w0);
      ps.add(*be, "b", {5}, DType::F32, true, false, b0);  // no decay
      RefSgd rw{0, momentum, 0.05, nesterov, to_double(w0), std::vector<double>(12)};
      RefSgd rb{0, momentum, 0.05, nesterov, to_double(b0), std::vector<double>(5)};
      const double lrs[] = {0.1, 0.05, 0.2, 0.01, 0.1, 0.3};
      for (int s = 0; s < 6; ++s) {
        mp::testing::set_synthetic_grads(*be, ps.list, static_cast<uint64_t>(s) + 100, 1.0f);
        rw.step(to_host_floats(*be, ps.list[0]->grad), static_cast<float>(lrs[s]), true);
        rb.step(to_host_floats(*be, ps.list[1]->grad), static_cast<float>(lrs[s]), false);
        opt->step(*be, ps.list, lrs[s]);
      }
      CHECK(opt->applied_steps() == 6);
      check_close(to_host_floats(*be, ps.list[0]->master), rw.p, 1e-5);
      check_close(to_host_floats(*be, ps.list[1]->master), rb.p, 1e-5);
      if (momentum != 0.0) check_close(opt->get_slot(*be, "momentum", "w"), rw.buf, 1e-5);
    }
  }
}

TEST_CASE("AdamW with bias correction and decoupled decay matches an fp64 reference") {
  auto be = make_cpu_backend(2);
  OptimizerSpec spec;
  spec.type = "adamw";
  spec.beta1 = 0.8;
  spec.beta2 = 0.95;
  spec.eps = 1e-6;
  spec.weight_decay = 0.1;
  auto opt = make_optimizer(spec, 7);
  ParamSet ps;
  const std::vector<float> w0 = synthetic(3, 20), b0 = synthetic(4, 4);
  ps.add(*be, "w", {4, 5}, DType::F32, true, true, w0);
  ps.add(*be, "b", {4}, DType::F32, true, false, b0);
  const float b1 = 0.8f, b2 = 0.95f, eps = 1e-6f, wd = 0.1f;  // the fp32 values the kernel sees
  RefAdamW rw{b1, b2, eps, wd, 0, to_double(w0), std::vector<double>(20), std::vector<double>(20)};
  RefAdamW rb{b1, b2, eps, wd, 0, to_double(b0), std::vector<double>(4), std::vector<double>(4)};
  const double lrs[] = {1e-2, 2e-2, 5e-3, 1e-2, 1e-2, 3e-3, 1e-2};
  for (int s = 0; s < 7; ++s) {
    mp::testing::set_synthetic_grads(*be, ps.list, static_cast<uint64_t>(s) + 200, 1.0f);
    rw.step(to_host_floats(*be, ps.list[0]->grad), static_cast<float>(lrs[s]), true);
    rb.step(to_host_floats(*be, ps.list[1]->grad), static_cast<float>(lrs[s]), false);
    opt->step(*be, ps.list, lrs[s]);
  }
  check_close(to_host_floats(*be, ps.list[0]->master), rw.p, 2e-5);
  check_close(to_host_floats(*be, ps.list[1]->master), rb.p, 2e-5);
  check_close(opt->get_slot(*be, "exp_avg", "w"), rw.m, 1e-5);
  check_close(opt->get_slot(*be, "exp_avg_sq", "w"), rw.v, 1e-5);
}

TEST_CASE("AdamW bias correction follows the optimizer's applied-step count") {
  auto be = make_cpu_backend(1);
  OptimizerSpec spec;
  spec.type = "adamw";
  auto fresh = make_optimizer(spec, 0);
  auto restored = make_optimizer(spec, 0);
  ParamSet a, b;
  const std::vector<float> w0 = synthetic(5, 8);
  a.add(*be, "w", {8}, DType::F32, true, true, w0);
  b.add(*be, "w", {8}, DType::F32, true, true, w0);
  restored->init_state(*be, b.list);
  restored->set_applied_steps(1000);  // as if restored from a checkpoint at step 1000
  mp::testing::set_synthetic_grads(*be, a.list, 9, 1.0f);
  mp::testing::set_synthetic_grads(*be, b.list, 9, 1.0f);
  fresh->step(*be, a.list, 1e-2);
  restored->step(*be, b.list, 1e-2);
  const std::vector<float> wa = to_host_floats(*be, a.list[0]->master);
  const std::vector<float> wb = to_host_floats(*be, b.list[0]->master);
  const std::vector<float> g = to_host_floats(*be, a.list[0]->grad);
  const double eps = 1e-8;
  for (size_t i = 0; i < w0.size(); ++i) {
    // From zero state, one step with bias-correction count t moves the weight by
    //   lr * (0.1 g / bc1) / (sqrt(0.001 g^2 / bc2) + eps),  bc = 1 - beta^t.
    // t = 1 gives ~lr * sign(g); t = 1001 gives ~lr * 0.1 / sqrt(0.001 / 0.632) * sign(g).
    for (int t : {1, 1001}) {
      const double bc1 = 1 - std::pow(0.9, t), bc2 = 1 - std::pow(0.999, t);
      const double gi = g[i];
      const double expect = 1e-2 * (0.1 * gi / bc1) / (std::sqrt(0.001 * gi * gi / bc2) + eps);
      const double moved = static_cast<double>(w0[i]) - (t == 1 ? wa[i] : wb[i]);
      CHECK(moved == doctest::Approx(expect).epsilon(1e-3));
    }
  }
  CHECK(restored->applied_steps() == 1001);
}

TEST_CASE("after a step the working copy is RNE(master) for bf16 and fp16, and fp32 is shared") {
  auto be = make_cpu_backend(2);
  OptimizerSpec spec;
  spec.type = "sgd";
  spec.lr = 0.1;
  auto opt = make_optimizer(spec, 0);
  ParamSet ps;
  ps.add(*be, "a", {64}, DType::BF16, true, true, synthetic(10, 64));
  ps.add(*be, "h", {64}, DType::F16, true, true, synthetic(11, 64));
  ps.add(*be, "f", {64}, DType::F32, true, true, synthetic(12, 64));
  CHECK(ps.list[2]->working.raw() == ps.list[2]->master.raw());
  const std::vector<float> before_a = to_host_floats(*be, ps.list[0]->working);
  mp::testing::set_synthetic_grads(*be, ps.list, 3, 1.0f);
  opt->step(*be, ps.list, 0.1);
  const std::vector<float> ma = to_host_floats(*be, ps.list[0]->master);
  const std::vector<float> wa = to_host_floats(*be, ps.list[0]->working);
  const std::vector<float> mh = to_host_floats(*be, ps.list[1]->master);
  const std::vector<float> wh = to_host_floats(*be, ps.list[1]->working);
  int changed = 0;
  for (size_t i = 0; i < 64; ++i) {
    CHECK(wa[i] == round_to<bfloat16>(ma[i]));
    CHECK(wh[i] == round_to<half>(mh[i]));
    changed += wa[i] != before_a[i];
  }
  CHECK(changed > 32);  // the cast really happened (the update is ~0.05, bf16 ulp <= 2^-8)
}

TEST_CASE("state slots: names, get/set round trip, and checkpoint errors") {
  auto be = make_cpu_backend(1);
  OptimizerSpec sgd;
  sgd.type = "sgd";
  CHECK(make_optimizer(sgd, 0)->slot_names().empty());
  sgd.momentum = 0.5;
  CHECK(make_optimizer(sgd, 0)->slot_names() == std::vector<std::string>{"momentum"});
  OptimizerSpec adam;
  auto opt = make_optimizer(adam, 0);
  CHECK(opt->type() == "adamw");
  CHECK(opt->slot_names() == std::vector<std::string>{"exp_avg", "exp_avg_sq"});
  ParamSet ps;
  ps.add(*be, "w", {2, 3}, DType::F32, true, true, synthetic(1, 6));
  ps.add(*be, "b", {3}, DType::F32, true, false, synthetic(2, 3));
  opt->init_state(*be, ps.list);
  CHECK(opt->param_names() == std::vector<std::string>{"b", "w"});
  CHECK(opt->get_slot(*be, "exp_avg", "w") == std::vector<float>(6, 0.0f));
  const std::vector<float> vals = synthetic(3, 6);
  opt->set_slot(*be, "exp_avg_sq", "w", vals);
  CHECK(opt->get_slot(*be, "exp_avg_sq", "w") == vals);
  CHECK(opt->get_slot(*be, "exp_avg", "w") == std::vector<float>(6, 0.0f));
  CHECK_THROWS_WITH_AS(opt->set_slot(*be, "momentum", "w", vals),
                       doctest::Contains("/optimizer/momentum/w"), DataError);
  CHECK_THROWS_AS(opt->set_slot(*be, "exp_avg", "nope", vals), DataError);
  CHECK_THROWS_AS(opt->set_slot(*be, "exp_avg", "b", vals), DataError);  // 6 values for 3
  CHECK_THROWS_AS(opt->set_applied_steps(-1), DataError);
}

TEST_CASE("factory validates the spec") {
  OptimizerSpec s;
  s.type = "lamb";
  CHECK_THROWS_WITH_AS(make_optimizer(s, 0), doctest::Contains("optimizer.type"), ConfigError);
  s = OptimizerSpec{};
  s.beta1 = 1.0;
  CHECK_THROWS_WITH_AS(make_optimizer(s, 0), doctest::Contains("optimizer.beta1"), ConfigError);
  s = OptimizerSpec{};
  s.type = "sgd";
  s.nesterov = true;
  CHECK_THROWS_WITH_AS(make_optimizer(s, 0), doctest::Contains("optimizer.nesterov"), ConfigError);
  s = OptimizerSpec{};
  s.weight_decay = -1;
  CHECK_THROWS_AS(make_optimizer(s, 0), ConfigError);
  s = OptimizerSpec{};
  s.lr = 0;
  CHECK_THROWS_AS(make_optimizer(s, 0), ConfigError);
}
