// optim_grad_clip.cpp: the global gradient norm against an fp64 reference and clipping by
// min(1, max_norm / (norm + 1e-6)), its coefficient bit for bit (small norms: the 1e-6 counts).
#include <doctest/doctest.h>

#include <cmath>

#include "optim/grad_clip.h"
#include "unit/optim_fixtures.h"

using namespace mp;
using mp::testing::ParamSet;
using mp::testing::synthetic;

namespace {

double ref_norm(Backend& be, const ParamList& params) {
  double s = 0;
  for (const Parameter* p : params)
    for (float g : to_host_floats(be, p->grad)) s += static_cast<double>(g) * g;
  return std::sqrt(s);
}

}  // namespace

TEST_CASE("global norm over all parameters, clipping scales every gradient by one factor") {
  auto be = make_cpu_backend(2);
  ParamSet ps;
  ps.add(*be, "a", {100, 30}, DType::BF16, true, true, synthetic(1, 3000));
  ps.add(*be, "b", {30}, DType::F32, true, false, synthetic(2, 30));
  mp::testing::set_synthetic_grads(*be, ps.list, 4, 1.0f, 2.0f);
  const double norm = ref_norm(*be, ps.list);
  CHECK(global_grad_norm(*be, ps.list) == doctest::Approx(norm).epsilon(1e-6));

  const std::vector<float> ga = to_host_floats(*be, ps.list[0]->grad);
  const std::vector<float> gb = to_host_floats(*be, ps.list[1]->grad);
  // Above the norm (and 0 = off): untouched, bit for bit; the pre-clip norm is returned.
  CHECK(clip_grad_norm(*be, ps.list, norm * 2) == doctest::Approx(norm).epsilon(1e-6));
  CHECK(clip_grad_norm(*be, ps.list, 0.0) == doctest::Approx(norm).epsilon(1e-6));
  CHECK(to_host_floats(*be, ps.list[0]->grad) == ga);

  const double max_norm = norm / 4;
  CHECK(clip_grad_norm(*be, ps.list, max_norm) == doctest::Approx(norm).epsilon(1e-6));
  const double coef = max_norm / (norm + 1e-6);
  const std::vector<float> ca = to_host_floats(*be, ps.list[0]->grad);
  const std::vector<float> cb = to_host_floats(*be, ps.list[1]->grad);
  for (size_t i = 0; i < ga.size(); ++i) CHECK(ca[i] == doctest::Approx(ga[i] * coef).epsilon(1e-6));
  for (size_t i = 0; i < gb.size(); ++i) CHECK(cb[i] == doctest::Approx(gb[i] * coef).epsilon(1e-6));
  CHECK(ref_norm(*be, ps.list) == doctest::Approx(max_norm).epsilon(1e-5));
}

TEST_CASE("clip coefficient: max_norm / (norm + 1e-6) as fp32, bit for bit, also for small norms") {
  float coef = -1.0f;
  // A norm of 1e-5 clipped to 1e-5: the 1e-6 in the denominator is what makes it clip (by 1/1.1).
  REQUIRE(clip_coefficient(1e-5, 1e-5, coef));
  CHECK(coef == static_cast<float>(1e-5 / (1e-5 + 1e-6)));
  CHECK(coef == 0.909090936f);  // the fp32 nearest 10/11
  REQUIRE(clip_coefficient(3.0, 1.5, coef));
  CHECK(coef == static_cast<float>(1.5 / (3.0 + 1e-6)));
  CHECK_FALSE(clip_coefficient(1e-5, 2e-5, coef));  // within max_norm: left alone
  CHECK_FALSE(clip_coefficient(5.0, 0.0, coef));    // 0 = off

  // clip_grad_norm on gradients of norm ~5e-6 with max_norm = that norm: every gradient is
  // multiplied by exactly that fp32 coefficient (be.scale: one fp32 product each).
  auto be = make_cpu_backend(1);
  ParamSet ps;
  ps.add(*be, "a", {20}, DType::F32, true, true, synthetic(1, 20));
  mp::testing::set_synthetic_grads(*be, ps.list, 2, 1e-6f);
  const std::vector<float> g = to_host_floats(*be, ps.list[0]->grad);
  const double norm = global_grad_norm(*be, ps.list);
  REQUIRE(norm < 1e-5);
  CHECK(norm == doctest::Approx(ref_norm(*be, ps.list)).epsilon(1e-15));
  CHECK(clip_grad_norm(*be, ps.list, norm) == norm);
  const float c = static_cast<float>(norm / (norm + 1e-6));
  CHECK(c < 0.9f);
  const std::vector<float> got = to_host_floats(*be, ps.list[0]->grad);
  for (size_t i = 0; i < g.size(); ++i) CHECK(got[i] == g[i] * c);
}
