// nn_init.cpp: initialisers against their definitions (bounds, variance within CLT tolerance),
// reproducibility from the seed, independent streams per parameter, zero biases.
#include <doctest/doctest.h>

#include <cmath>

#include "nn/init.h"
#include "nn/model.h"

using namespace mp;

namespace {

struct Moments {
  double mean = 0, var = 0, max_abs = 0;
};

Moments moments(const std::vector<float>& v) {
  Moments m;
  for (float x : v) m.mean += x;
  m.mean /= static_cast<double>(v.size());
  for (float x : v) {
    m.var += (x - m.mean) * (x - m.mean);
    m.max_abs = std::max(m.max_abs, std::abs(static_cast<double>(x)));
  }
  m.var /= static_cast<double>(v.size());
  return m;
}

std::vector<float> draw(const std::string& kind, int64_t fan_out, int64_t fan_in, uint64_t seed = 1,
                        uint64_t offset = 1, double std_for_normal = 0.02) {
  auto be = make_cpu_backend(1);
  Tensor w = be->empty({fan_out, fan_in}, DType::F32);
  init_tensor(*be, w, kind, std_for_normal, fan_in, fan_out, seed, offset);
  return to_host_floats(*be, w);
}

}  // namespace

TEST_CASE("initialisers match their definitions") {
  const int64_t fo = 384, fi = 256;
  const double n = static_cast<double>(fo * fi);
  struct Want {
    std::string kind;
    double var, bound;  // bound 0 = unbounded (normal)
  };
  const std::vector<Want> wants = {
      {"kaiming_uniform", 2.0 / fi, std::sqrt(6.0 / fi)},
      {"kaiming_normal", 2.0 / fi, 0},
      {"xavier_uniform", 2.0 / (fi + fo), std::sqrt(6.0 / (fi + fo))},
      {"xavier_normal", 2.0 / (fi + fo), 0},
      {"normal", 0.02 * 0.02, 0},
  };
  for (const auto& w : wants) {
    CAPTURE(w.kind);
    const Moments m = moments(draw(w.kind, fo, fi));
    // mean: 5 standard errors; variance: 5 standard errors of the sample variance
    // (var of s^2 = (mu4 - sigma^4)/n; mu4 = 1.8 sigma^4 uniform, 3 sigma^4 normal)
    CHECK(std::abs(m.mean) < 5 * std::sqrt(w.var / n));
    const double k = w.bound > 0 ? 0.8 : 2.0;
    CHECK(std::abs(m.var - w.var) < 5 * w.var * std::sqrt(k / n));
    if (w.bound > 0) {
      CHECK(m.max_abs <= w.bound);
      CHECK(m.max_abs > 0.99 * w.bound);
    }
  }
  for (float x : draw("zeros", 3, 5)) CHECK(x == 0.0f);
}

TEST_CASE("same seed and stream reproduce; other seeds or streams differ") {
  CHECK(draw("kaiming_uniform", 16, 16, 7, 3) == draw("kaiming_uniform", 16, 16, 7, 3));
  CHECK(draw("kaiming_uniform", 16, 16, 7, 3) != draw("kaiming_uniform", 16, 16, 8, 3));
  CHECK(draw("kaiming_uniform", 16, 16, 7, 3) != draw("kaiming_uniform", 16, 16, 7, 4));
}

TEST_CASE("a model's layers draw independent weights; biases start at zero; seed reproduces") {
  LayerSpec l = default_layer_spec("linear");
  l.params["out"] = int64_t{32};
  auto build = [&](uint64_t seed) {
    auto be = make_cpu_backend(1);
    ModelOptions o;
    o.seed = seed;
    auto m = Model::build(*be, {l, l}, {32}, o);
    std::vector<std::vector<float>> v;
    for (Parameter* p : m->params()) v.push_back(to_host_floats(*be, p->master));
    return v;
  };
  const auto a = build(5), b = build(5), c = build(6);
  CHECK(a == b);
  CHECK(a[0] != c[0]);
  CHECK(a[0] != a[2]);  // layers.0.weight vs layers.1.weight: same shape, other stream
  for (float x : a[1]) CHECK(x == 0.0f);
}
