// optim_grad_clip.cpp: the global gradient norm against an fp64 reference and clipping by
// min(1, max_norm / (norm + 1e-6)).
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
