// backend_exp.cpp: kernels/exp.h's exp_f32 against fp64 std::exp: within 2 ulp over a million
// inputs spread across every exponent, overflow to inf, gradual underflow, NaN and ±inf.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "kernels/exp.h"

using mp::kernels::exp_f32;

TEST_CASE("exp_f32: within 2 ulp of exp everywhere it is finite, inf beyond") {
  double worst = 0;
  float worst_x = 0;
  for (uint64_t u = 0; u <= 0xffffffffull; u += 4099) {
    float x;
    const uint32_t b = static_cast<uint32_t>(u);
    std::memcpy(&x, &b, 4);
    if (std::isnan(x)) continue;
    const float y = exp_f32(x);
    const double ref = std::exp(double(x));
    if (ref > 3.4028235677973366e38) {  // rounds to inf in fp32
      REQUIRE((std::isinf(y) && y > 0));
      continue;
    }
    // ulp of the result's binade (fixed at the subnormal spacing below FLT_MIN)
    const double ulp = std::ldexp(1.0, std::max(std::ilogb(ref), -126) - 23);
    const double err = std::fabs(double(y) - ref) / ulp;
    if (err > worst) worst = err, worst_x = x;
  }
  CAPTURE(worst_x);
  CHECK(worst <= 2.0);
}

TEST_CASE("exp_f32: special values") {
  CHECK(std::isnan(exp_f32(NAN)));
  CHECK(exp_f32(INFINITY) == INFINITY);
  CHECK(exp_f32(-INFINITY) == 0.0f);
  CHECK(exp_f32(0.0f) == 1.0f);
  CHECK(exp_f32(-0.0f) == 1.0f);
  CHECK(exp_f32(1.0f) == doctest::Approx(2.718281828).epsilon(1e-7));
  CHECK(std::isfinite(exp_f32(88.72f)));  // just below ln(FLT_MAX)
  CHECK(exp_f32(88.73f) == INFINITY);
  CHECK(exp_f32(-103.3f) > 0.0f);          // deep subnormal
  CHECK(exp_f32(-120.0f) == 0.0f);
}
