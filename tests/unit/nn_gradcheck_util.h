// nn_gradcheck_util.h: helpers of the layer gradient checks (nn_gradcheck.cpp, nn_attention.cpp):
// fp64 vectors of fp32-representable random values, host conversions, and the elementwise
// closeness check used against fp64 references and finite differences.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace mp::test {

using Vec = std::vector<double>;

// fp32-representable random values with |v| in [lo, hi), away from 0 (so relu's kink is never
// straddled by FD).
inline Vec random_vec(size_t n, std::mt19937_64& g, double lo = 0.1, double hi = 1.0) {
  std::uniform_real_distribution<double> mag(lo, hi);
  std::bernoulli_distribution sign(0.5);
  Vec v(n);
  for (auto& x : v) x = static_cast<float>((sign(g) ? -1 : 1) * mag(g));
  return v;
}

inline std::vector<float> to_f(const Vec& v) { return std::vector<float>(v.begin(), v.end()); }
inline Vec to_d(const std::vector<float>& v) { return Vec(v.begin(), v.end()); }

inline double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Central differences (f(v + h e_i) - f(v - h e_i)) / 2h for every i, in fp64.
template <class F> Vec central_differences(const Vec& v, double h, F&& f) {
  Vec g(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    Vec vp = v, vm = v;
    vp[i] += h;
    vm[i] -= h;
    g[i] = (f(vp) - f(vm)) / (2 * h);
  }
  return g;
}

// |got - want| <= tol * (|want| + 1e-2 * max|want|) elementwise; a NaN fails.
inline void check_close(const Vec& got, const Vec& want, double tol, const std::string& what) {
  REQUIRE(got.size() == want.size());
  double mx = 0;
  for (double w : want) mx = std::max(mx, std::abs(w));
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::abs(got[i] - want[i]) <= tol * (std::abs(want[i]) + 1e-2 * mx)) && bad++ < 3)
      FAIL_CHECK(what << "[" << i << "]: got " << got[i] << ", want " << want[i]);
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " of " << got.size() << " elements off");
}

}  // namespace mp::test
