// optim_stochastic_rounding.cpp: pure-bf16 updates (master_weights: none). Many updates far
// below half a bf16 ulp are lost entirely under round-to-nearest but move the weight by the right
// amount on average under stochastic rounding; the rounding is reproducible from the seed and
// draws distinct streams per parameter and per step.
#include <doctest/doctest.h>

#include <cmath>
#include <numeric>

#include "optim/optimizer.h"
#include "unit/optim_fixtures.h"

using namespace mp;
using mp::testing::ParamSet;

namespace {

constexpr int64_t kN = 4096;
constexpr int kSteps = 100;
constexpr float kDelta = 1e-4f;  // per-step update; bf16 ulp at 1.0 is 2^-7 = 0.0078

// Plain SGD, lr 1, gradient -kDelta: each step adds kDelta to every weight starting at 1.0.
std::vector<float> run_pure_bf16(uint64_t seed, bool stochastic, int nparams = 1) {
  auto be = make_cpu_backend(2);
  OptimizerSpec spec;
  spec.type = "sgd";
  auto opt = make_optimizer(spec, seed);
  opt->set_stochastic_rounding(stochastic);
  ParamSet ps;
  for (int i = 0; i < nparams; ++i) {
    Parameter& p = ps.add(*be, "p" + std::to_string(i), {kN}, DType::BF16, false, true,
                          std::vector<float>(kN, 1.0f));
    REQUIRE(p.master.dtype() == DType::BF16);
    REQUIRE(p.master.raw() == p.working.raw());
  }
  for (int s = 0; s < kSteps; ++s) {
    for (Parameter* p : ps.list) be->fill(p->grad, -kDelta);
    opt->step(*be, ps.list, 1.0);
  }
  std::vector<float> out;
  for (const Parameter* p : ps.list) {
    const std::vector<float> v = to_host_floats(*be, p->master);
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

double mean(const std::vector<float>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

}  // namespace

TEST_CASE("round-to-nearest loses every small update; stochastic rounding keeps them on average") {
  const std::vector<float> rne = run_pure_bf16(42, false);
  for (float x : rne) REQUIRE(x == 1.0f);

  const std::vector<float> sr = run_pure_bf16(42, true);
  const double expect = 1.0 + kSteps * static_cast<double>(kDelta);  // 1.01
  // Each step rounds up one ulp with probability 1e-4 / 2^-7 = 0.0128, so after 100 steps the
  // number of ulps gained is ~Poisson(1.28): per-element std 0.0088, std of the mean over 4096
  // elements 0.00014. A tolerance of 0.001 is seven of those; RNE's 1.0 is 70 away.
  CHECK(mean(sr) == doctest::Approx(expect).epsilon(0.001));
  for (float x : sr) {
    CHECK(x == round_to<bfloat16>(x));  // stored in bf16
    CHECK(x >= 1.0f);
    CHECK(x <= 1.0f + 12 * 0.0078125f);  // P(Poisson(1.28) >= 12) ~ 1e-8 per element
  }
}

TEST_CASE("stochastic rounding is reproducible from the seed and distinct per parameter") {
  const std::vector<float> a = run_pure_bf16(7, true, 2);
  const std::vector<float> b = run_pure_bf16(7, true, 2);
  const std::vector<float> c = run_pure_bf16(8, true, 2);
  CHECK(mp::testing::bits_of(a) == mp::testing::bits_of(b));
  CHECK(a != c);
  // The two parameters got the same updates but independent random streams.
  const std::vector<float> p0(a.begin(), a.begin() + kN), p1(a.begin() + kN, a.end());
  CHECK(p0 != p1);
}

TEST_CASE("rounding offsets are distinct per parameter and per applied step") {
  OptimizerSpec spec;
  spec.type = "sgd";
  auto opt = make_optimizer(spec, 3);
  const Rounding r0 = opt->rounding_for(DType::BF16, 0);
  const Rounding r1 = opt->rounding_for(DType::BF16, 1);
  CHECK(r0.stochastic);
  CHECK(r0.seed == r1.seed);
  CHECK(r0.offset != r1.offset);
  opt->set_applied_steps(1);
  const Rounding r0_next = opt->rounding_for(DType::BF16, 0);
  CHECK(r0_next.offset != r0.offset);
  CHECK(r0_next.offset != r1.offset);
  // fp32 and fp16 masters round to nearest.
  CHECK_FALSE(opt->rounding_for(DType::F32, 0).stochastic);
  CHECK_FALSE(opt->rounding_for(DType::F16, 0).stochastic);
}

// A piece of a parameter (a ZeRO-1 shard's view) that names its parameter's rounding stream and
// its first element draws exactly the bits the whole parameter's update draws for those elements;
// without them (its own index, counting from 0) it draws other bits.
TEST_CASE("a piece with rounding_index/rounding_first rounds as the whole parameter does") {
  auto be = make_cpu_backend(2);
  const int64_t lo = 1237, n = 1500;  // not a multiple of 4: Philox blocks straddle the cut
  auto run = [&](bool piece, bool named) {
    OptimizerSpec spec;
    spec.type = "sgd";
    auto opt = make_optimizer(spec, 7);
    opt->set_stochastic_rounding(true);
    ParamSet ps;
    Parameter& other = ps.add(*be, "a", {16}, DType::BF16, false, true, std::vector<float>(16, 1.0f));
    Parameter& p = ps.add(*be, "b", {kN}, DType::BF16, false, true, std::vector<float>(kN, 1.0f));
    Parameter v;  // the piece [lo, lo + n) of p, updated alone
    v.name = p.name;
    v.master = p.master.flat_range(lo, n);
    v.working = v.master;
    v.grad = p.grad.flat_range(lo, n);
    if (named) {
      v.rounding_index = 1;  // p's index in the whole list
      v.rounding_first = lo;
    }
    const ParamList list = piece ? ParamList{&v} : ps.list;
    for (int s = 0; s < 5; ++s) {
      be->fill(other.grad, -kDelta);
      be->fill(p.grad, -kDelta);
      opt->step(*be, list, 1.0);
    }
    const std::vector<float> all = to_host_floats(*be, p.master);
    return std::vector<float>(all.begin() + lo, all.begin() + lo + n);
  };
  const std::vector<float> whole = run(false, false);
  CHECK(run(true, true) == whole);
  CHECK(run(true, false) != whole);
}
