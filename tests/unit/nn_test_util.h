// nn_test_util.h: helpers of the layer tests (nn_gradcheck.cpp, nn_seq_layers.cpp, nn_attention.cpp): fp32-exact
// random vectors in fp64, conversions, and the elementwise closeness check against an fp64
// reference; a catalog LayerSpec with some parameters set.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "nn/layer_spec.h"

namespace mp::nn_test {

using Vec = std::vector<double>;

// fp32-representable random values away from 0 (so relu's kink is never straddled by FD).
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

// |a - b| <= tol * (|b| + 1e-2 * max|b|) elementwise; a NaN fails.
inline void check_close(const Vec& got, const Vec& want, double tol, const std::string& what) {
  REQUIRE(got.size() == want.size());
  double mx = 0;
  for (double w : want) mx = std::max(mx, std::abs(w));
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(got[i] - want[i]);
    if (!(err <= tol * (std::abs(want[i]) + 1e-2 * mx)) && bad++ < 3)
      FAIL_CHECK(what << "[" << i << "]: got " << got[i] << ", want " << want[i]);
  }
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " of " << got.size() << " elements off");
}

// Central differences of f at v, one per element of v: (f(v + h e_i) - f(v - h e_i)) / 2h.
template <class F> Vec fd_gradient(F&& f, const Vec& v, double h = 1e-6) {
  Vec g(v.size());
  Vec w = v;
  for (size_t i = 0; i < v.size(); ++i) {
    w[i] = v[i] + h;
    const double up = f(w);
    w[i] = v[i] - h;
    const double down = f(w);
    w[i] = v[i];
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

// The catalog's defaults for `type` with `kv` set, located at `where` (messages name it).
inline LayerSpec spec(const std::string& type, std::map<std::string, ParamValue> kv = {},
                      const std::string& where = "test") {
  LayerSpec s = default_layer_spec(type);
  for (auto& [k, v] : kv) s.params[k] = v;
  s.where = where;
  return s;
}

}  // namespace mp::nn_test
