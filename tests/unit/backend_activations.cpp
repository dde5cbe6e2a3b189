// backend_activations.cpp: every activation's forward against an fp64 reference in fp32, fp16 and
// bf16, and its backward against central finite differences of the fp64 forward; behaviour at
// large |x| (±1e4: finite, right limits).
#include <doctest/doctest.h>

#include <functional>

#include "unit/backend_test_util.h"

using namespace mp;
using namespace mp::test;

namespace {

struct ActRef {
  Act act;
  const char* name;
  std::function<double(double)> f;
};

const double kPi = 3.14159265358979323846;

const std::vector<ActRef>& refs() {
  static const std::vector<ActRef> r = {
      {Act::Identity, "identity", [](double x) { return x; }},
      {Act::Relu, "relu", [](double x) { return x > 0 ? x : 0.0; }},
      {Act::GeluTanh, "gelu_tanh",
       [](double x) {
         return 0.5 * x * (1 + std::tanh(std::sqrt(2 / kPi) * (x + 0.044715 * x * x * x)));
       }},
      {Act::GeluExact, "gelu", [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }},
      {Act::Tanh, "tanh", [](double x) { return std::tanh(x); }},
      {Act::Sigmoid, "sigmoid", [](double x) { return 1 / (1 + std::exp(-x)); }},
      {Act::Silu, "silu", [](double x) { return x / (1 + std::exp(-x)); }},
  };
  return r;
}

// Inputs on a grid over [-8, 8] avoiding 0 (relu's kink) plus large magnitudes.
std::vector<float> inputs(DType dt) {
  std::vector<float> x;
  for (int i = 0; i < 401; ++i) x.push_back(float(round_ref(-8.0 + 16.0 * (i + 0.37) / 401, dt)));
  for (float v : {1e-3f, -1e-3f, 20.0f, -20.0f, 1e4f, -1e4f}) x.push_back(float(round_ref(v, dt)));
  return x;
}

}  // namespace

TEST_CASE("activation forward: fp64 reference, all dtypes") {
  Backend& be = cpu_be();
  for (const ActRef& r : refs())
    for (DType dt : kFloatTypes) {
      CAPTURE(r.name);
      CAPTURE(dtype_name(dt));
      const auto x = inputs(dt);
      const Shape s{int64_t(x.size())};
      Tensor tx = make(be, x, s, dt), ty = be.empty(s, dt);
      be.activation_forward(r.act, tx, ty);
      const auto y = get(be, ty);
      for (size_t i = 0; i < x.size(); ++i) {
        const double ref = r.f(x[i]);
        // one rounding to dt, a few fp32 ulps of math, and fp32 cancellation in 1 + erf/tanh
        const double tol = unit_roundoff(dt) * std::fabs(ref) + 4e-6 * std::fabs(ref) + 5e-7;
        if (!(std::fabs(y[i] - ref) <= tol))
          FAIL_CHECK("x = " << x[i] << ": got " << y[i] << ", fp64 " << ref);
      }
      // in place gives the same result
      be.activation_forward(r.act, tx, tx);
      CHECK(get(be, tx) == y);
    }
}

TEST_CASE("activation backward: central finite differences of the fp64 forward, all dtypes") {
  Backend& be = cpu_be();
  for (const ActRef& r : refs())
    for (DType dt : kFloatTypes) {
      CAPTURE(r.name);
      CAPTURE(dtype_name(dt));
      const auto x = inputs(dt);
      const Shape s{int64_t(x.size())};
      auto dy = random_floats(x.size(), -2, 2, 42, dt);
      Tensor tx = make(be, x, s, dt), tdy = make(be, dy, s, dt), tdx = be.empty(s, dt);
      be.activation_backward(r.act, tx, tdy, tdx);
      const auto dx = get(be, tdx);
      for (size_t i = 0; i < x.size(); ++i) {
        const double h = 1e-5 * std::max(1.0, std::fabs(double(x[i])));
        const double d = (r.f(x[i] + h) - r.f(x[i] - h)) / (2 * h);
        const double ref = dy[i] * d;
        const double tol = unit_roundoff(dt) * std::fabs(ref) + 2e-5 * std::fabs(dy[i]) + 1e-6;
        if (!(std::fabs(dx[i] - ref) <= tol))
          FAIL_CHECK("x = " << x[i] << ", dy = " << dy[i] << ": got " << dx[i] << ", FD " << ref);
      }
    }
}

TEST_CASE("activation backward at huge |x| stays finite with the right limit") {
  Backend& be = cpu_be();
  const std::vector<float> x = {1e4f, -1e4f, 3e38f, -3e38f};
  const std::vector<float> dy = {1.5f, 1.5f, 1.5f, 1.5f};
  struct Lim {
    Act act;
    std::vector<float> want;
  };
  const Lim lims[] = {{Act::Relu, {1.5f, 0, 1.5f, 0}},       {Act::GeluTanh, {1.5f, 0, 1.5f, 0}},
                      {Act::GeluExact, {1.5f, 0, 1.5f, 0}},  {Act::Tanh, {0, 0, 0, 0}},
                      {Act::Sigmoid, {0, 0, 0, 0}},          {Act::Silu, {1.5f, 0, 1.5f, 0}}};
  for (const Lim& l : lims) {
    CAPTURE(int(l.act));
    Tensor tx = make(be, x, {4}, DType::F32), tdy = make(be, dy, {4}, DType::F32);
    Tensor tdx = be.empty({4}, DType::F32);
    be.activation_backward(l.act, tx, tdy, tdx);
    const auto got = get(be, tdx);
    for (size_t i = 0; i < 4; ++i) {
      CHECK(std::isfinite(got[i]));
      CHECK(std::fabs(got[i] - l.want[i]) <= 1e-6f);
    }
  }
}
