// backend_optim.cpp: SGD (momentum, nesterov, weight decay) and AdamW, one and many steps, against
// a scalar fp64 reimplementation of the PyTorch update rules; parameter rounding to bf16/fp16 with
// RNE; bf16 stochastic rounding (unbiased over seeds and elements, reproducible per seed).
#include <doctest/doctest.h>

#include "core/philox.h"
#include "unit/backend_test_util.h"

using namespace mp;
using namespace mp::test;

namespace {

struct Sgd64 {
  double lr, mom, wd;
  bool nesterov;
  std::vector<double> buf;
  void step(std::vector<double>& p, const std::vector<float>& g) {
    buf.resize(p.size(), 0.0);
    for (size_t i = 0; i < p.size(); ++i) {
      double d = g[i] + wd * p[i];
      if (mom != 0) {
        buf[i] = mom * buf[i] + d;
        d = nesterov ? d + mom * buf[i] : buf[i];
      }
      p[i] -= lr * d;
    }
  }
};

struct AdamW64 {
  double lr, b1, b2, eps, wd;
  std::vector<double> m, v;
  int64_t t = 0;
  void step(std::vector<double>& p, const std::vector<float>& g) {
    m.resize(p.size(), 0.0);
    v.resize(p.size(), 0.0);
    ++t;
    const double bc1 = 1 - std::pow(b1, double(t)), bc2 = 1 - std::pow(b2, double(t));
    for (size_t i = 0; i < p.size(); ++i) {
      p[i] *= 1 - lr * wd;
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * double(g[i]) * g[i];
      p[i] -= lr * (m[i] / bc1) / (std::sqrt(v[i] / bc2) + eps);
    }
  }
};

void check_close(const std::vector<float>& got, const std::vector<double>& ref, double rel, double abs_tol) {
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(got[i] - ref[i]) <= rel * std::fabs(ref[i]) + abs_tol)) {
      FAIL_CHECK("element " << i << ": got " << got[i] << ", fp64 " << ref[i]);
      return;
    }
}

}  // namespace

TEST_CASE("sgd_step: plain, momentum, nesterov, weight decay; 1 and 6 steps vs fp64") {
  Backend& be = cpu_be();
  const int64_t n = 5003;
  struct Cfg {
    float lr, mom, wd;
    bool nest;
  };
  for (Cfg c : {Cfg{0.1f, 0.0f, 0.0f, false}, Cfg{0.05f, 0.9f, 0.0f, false}, Cfg{0.05f, 0.9f, 0.01f, true},
                Cfg{0.02f, 0.0f, 0.1f, false}})
    for (int steps : {1, 6}) {
      CAPTURE(c.mom);
      CAPTURE(c.nest);
      CAPTURE(c.wd);
      CAPTURE(steps);
      auto p0 = random_floats(size_t(n), -1, 1, 1, DType::F32);
      Tensor p = make(be, p0, {n}, DType::F32), m = be.empty({n}, DType::F32);
      be.fill(m, 0.0f);
      std::vector<double> pr(p0.begin(), p0.end());
      Sgd64 ref{double(c.lr), double(c.mom), double(c.wd), c.nest, {}};
      SgdHyper h;
      h.lr = c.lr, h.momentum = c.mom, h.weight_decay = c.wd, h.nesterov = c.nest;
      for (int s = 0; s < steps; ++s) {
        const auto g = random_floats(size_t(n), -1, 1, uint32_t(100 + s), DType::F32);
        Tensor tg = make(be, g, {n}, DType::F32);
        be.sgd_step(p, tg, c.mom != 0 ? &m : nullptr, h, Rounding{});
        ref.step(pr, g);
      }
      check_close(get(be, p), pr, 1e-6, 1e-6);
    }
}

TEST_CASE("adamw_step: 1 and 10 steps with bias correction and decoupled decay vs fp64") {
  Backend& be = cpu_be();
  const int64_t n = 4099;
  for (float wd : {0.0f, 0.1f})
    for (int steps : {1, 10}) {
      CAPTURE(wd);
      CAPTURE(steps);
      auto p0 = random_floats(size_t(n), -1, 1, 2, DType::F32);
      Tensor p = make(be, p0, {n}, DType::F32), m = be.empty({n}, DType::F32), v = be.empty({n}, DType::F32);
      be.fill(m, 0.0f);
      be.fill(v, 0.0f);
      std::vector<double> pr(p0.begin(), p0.end());
      // the reference uses the hyperparameters as the backend receives them (fp32 values)
      AdamW64 ref{double(1e-2f), double(0.9f), double(0.999f), double(1e-8f), double(wd), {}, {}};
      for (int s = 1; s <= steps; ++s) {
        const auto g = random_floats(size_t(n), -1, 1, uint32_t(200 + s), DType::F32);
        Tensor tg = make(be, g, {n}, DType::F32);
        AdamWHyper h;
        h.lr = 1e-2f, h.weight_decay = wd, h.step = s;
        be.adamw_step(p, tg, m, v, h, Rounding{});
        ref.step(pr, g);
      }
      check_close(get(be, p), pr, 1e-5, 1e-6);
      check_close(get(be, m), ref.m, 1e-5, 1e-7);
      check_close(get(be, v), ref.v, 1e-5, 1e-9);
    }
}

TEST_CASE("optimizer with fp16/bf16 parameters: fp32 math, one RNE rounding of the new value") {
  Backend& be = cpu_be();
  const int64_t n = 3001;
  for (DType dt : {DType::F16, DType::BF16}) {
    CAPTURE(dtype_name(dt));
    auto p0 = random_floats(size_t(n), -1, 1, 3, dt);
    const auto g = random_floats(size_t(n), -1, 1, 4, DType::F32);
    Tensor p = make(be, p0, {n}, dt), tg = make(be, g, {n}, DType::F32);
    SgdHyper h;
    h.lr = 0.1f;
    be.sgd_step(p, tg, nullptr, h, Rounding{});
    const auto got = get(be, p);
    for (int64_t i = 0; i < n; ++i) {
      const float upd = p0[size_t(i)] - 0.1f * g[size_t(i)];  // fp32 math as specified
      REQUIRE(got[size_t(i)] == float(round_ref(upd, dt)));
    }
  }
}

TEST_CASE("bf16 stochastic rounding: unbiased, one of the two neighbours, reproducible per seed") {
  Backend& be = cpu_be();
  // p = 1, update -1e-3: bf16 neighbours of 0.999 are 0.99609375 and 1.0; RNE always gives 1.
  const int64_t n = 40000;
  Tensor g = be.empty({n}, DType::F32);
  be.fill(g, 1e-3f);
  SgdHyper h;
  h.lr = 1.0f;
  Tensor p = be.empty({n}, DType::BF16);
  be.fill(p, 1.0f);
  be.sgd_step(p, g, nullptr, h, Rounding{true, 99, 5});
  const auto a = get(be, p);
  const float exact = 1.0f - 1e-3f;
  double mean = 0;
  for (int64_t i = 0; i < n; ++i) {
    REQUIRE((a[size_t(i)] == 1.0f || a[size_t(i)] == 0.99609375f));
    // the same bits the per-element kernel (and the CUDA backend) would produce
    const uint32_t r = philox_bits(99, 5, uint64_t(i));
    REQUIRE(a[size_t(i)] == bf16_bits_to_float(float_to_bf16_bits_stochastic(exact, r & 0xffff)));
    mean += a[size_t(i)];
  }
  mean /= double(n);
  const double pdown = (1.0 - exact) / (1.0 - 0.99609375);
  const double sd = (1.0 - 0.99609375) * std::sqrt(pdown * (1 - pdown) / double(n));
  CHECK(std::fabs(mean - exact) < 5 * sd);
  // same seed and offset: same bits; another seed: different draws
  Tensor p2 = be.empty({n}, DType::BF16);
  be.fill(p2, 1.0f);
  be.sgd_step(p2, g, nullptr, h, Rounding{true, 99, 5});
  CHECK(get(be, p2) == a);
  be.fill(p2, 1.0f);
  be.sgd_step(p2, g, nullptr, h, Rounding{true, 100, 5});
  CHECK(get(be, p2) != a);
  // over many seeds for one element, the mean also converges to the fp32 value
  Tensor one = be.empty({1}, DType::BF16), g1 = be.empty({1}, DType::F32);
  be.fill(g1, 1e-3f);
  double m1 = 0;
  const int seeds = 4000;
  for (int s = 0; s < seeds; ++s) {
    be.fill(one, 1.0f);
    be.sgd_step(one, g1, nullptr, h, Rounding{true, uint64_t(s), 0});
    m1 += get(be, one)[0];
  }
  m1 /= seeds;
  CHECK(std::fabs(m1 - exact) < 5 * (1.0 - 0.99609375) * std::sqrt(pdown * (1 - pdown) / seeds));
}
