// backend_optim_fused.cpp: the fused optimizer-step ops against the separate ops they replace, bit
// for bit: check_grad == unscale_and_check + sum_squares (also across thread counts, and the
// Backend default; both flags, also for inv_scale > 1 where finite values unscale to inf),
// adamw_step_fused / sgd_step_fused == unscale, clip (scale), the update, the master -> working
// cast and zeroing the gradient, over several steps, for fp32 masters with bf16/fp16/no working
// copy and pure bf16 with stochastic rounding.
#include <doctest/doctest.h>

#include <limits>

#include "unit/backend_test_util.h"

using namespace mp;
using namespace mp::test;

namespace {

std::vector<uint8_t> bytes(Backend& be, const Tensor& t) {
  std::vector<uint8_t> b(t.nbytes());
  be.download(t, b.data());
  return b;
}

Tensor clone(Backend& be, const Tensor& t) {
  Tensor c = be.empty(t.shape(), t.dtype());
  be.copy(t, c);
  return c;
}

const int64_t kSizes[] = {1, 17, 2048, 2049, 40000, 100003};

}  // namespace

TEST_CASE("check_grad: same bits as unscale_and_check then sum_squares, any thread count") {
  auto be1 = make_cpu_backend(1);
  Backend& be = cpu_be();
  for (int64_t n : kSizes)
    for (float inv : {1.0f, 1.0f / 1024.0f, 3.0e-5f})
      for (int poison : {0, 1, 2}) {
        CAPTURE(n);
        CAPTURE(inv);
        CAPTURE(poison);
        std::vector<float> v = random_floats(size_t(n), -300.0f, 300.0f, uint32_t(n), DType::F32);
        if (poison == 1) v[size_t(n / 2)] = std::numeric_limits<float>::infinity();
        if (poison == 2) v[size_t(n - 1)] = std::numeric_limits<float>::quiet_NaN();
        Tensor g = make(be, v, {n}, DType::F32);
        Tensor ref = clone(be, g);
        const bool bad = be.unscale_and_check(ref, inv);
        const double ss = be.sum_squares(ref);
        const GradCheck c = be.check_grad(g, inv);
        CHECK(c.nonfinite == bad);
        CHECK(c.nonfinite == (poison != 0));
        if (!bad) CHECK(c.sum_squares == ss);
        std::vector<uint8_t> vb(v.size() * 4);
        std::memcpy(vb.data(), v.data(), vb.size());
        CHECK(bytes(be, g) == vb);  // read only
        const GradCheck c1 = be1->check_grad(make(*be1, v, {n}, DType::F32), inv);
        CHECK(c1.nonfinite == c.nonfinite);
        if (!bad) CHECK(c1.sum_squares == c.sum_squares);
        const GradCheck d = check_grad_by_ops(be, g, inv);  // the default for other backends
        CHECK(d.nonfinite == c.nonfinite);
        if (!bad) CHECK(d.sum_squares == c.sum_squares);
        CHECK(c.scaled_nonfinite == (poison != 0));
        CHECK(c1.scaled_nonfinite == c.scaled_nonfinite);
        CHECK(d.scaled_nonfinite == c.scaled_nonfinite);
      }
}

TEST_CASE("check_grad: inv_scale > 1 (loss scale < 1) flags finite gradients that unscale to inf") {
  auto be1 = make_cpu_backend(1);
  Backend& be = cpu_be();
  const float big = 0.6f * std::numeric_limits<float>::max();
  for (int64_t n : kSizes)
    for (int poison : {0, 1, 2}) {  // none, a finite element that overflows x 4, a stored inf
      CAPTURE(n);
      CAPTURE(poison);
      std::vector<float> v = random_floats(size_t(n), -1e30f, 1e30f, uint32_t(n + 5), DType::F32);
      if (poison == 1) v[size_t(n / 3)] = -big;
      if (poison == 2) v[size_t(n / 3)] = std::numeric_limits<float>::infinity();
      Tensor g = make(be, v, {n}, DType::F32);
      Tensor ref = clone(be, g);
      const bool bad = be.unscale_and_check(ref, 4.0f);
      CHECK(bad == (poison != 0));
      const GradCheck c = be.check_grad(g, 4.0f);
      const GradCheck c1 = be1->check_grad(make(*be1, v, {n}, DType::F32), 4.0f);
      const GradCheck d = check_grad_by_ops(be, g, 4.0f);
      for (const GradCheck& x : {c, c1, d}) {
        CHECK(x.nonfinite == (poison != 0));
        CHECK(x.scaled_nonfinite == (poison == 2));
      }
      if (poison == 0) {
        // (4e30)^2 = 1.6e61 per element: far beyond fp32, exact in fp64.
        double q = 0.0;
        for (float x : v) q += double(x * 4.0f) * double(x * 4.0f);
        CHECK(std::isfinite(c.sum_squares));
        CHECK(c.sum_squares == doctest::Approx(q).epsilon(1e-11));  // fp64 sums in two orders
        CHECK(c.sum_squares == be.sum_squares(ref));
        CHECK(c1.sum_squares == c.sum_squares);
        CHECK(d.sum_squares == c.sum_squares);
      }
    }
}

namespace {

struct Case {
  DType master, working;  // working == master: no separate working copy
  bool stochastic;
};

// Runs 3 steps of the fused op and of the separate ops on identical state and compares every
// tensor bit for bit after each step.
template <class Fused, class Separate>
void compare_fused(const Case& k, int64_t n, const GradPrep& prep, Fused fused, Separate separate) {
  Backend& be = cpu_be();
  const std::vector<float> p0 = random_floats(size_t(n), -1.0f, 1.0f, 7, k.master);
  Tensor pa = make(be, p0, {n}, k.master), pb = make(be, p0, {n}, k.master);
  const bool has_working = k.working != k.master;
  Tensor wa = be.empty({n}, k.working), wb = be.empty({n}, k.working);
  be.fill(wa, 0.0f);
  be.fill(wb, 0.0f);
  Tensor ma = be.empty({n}, DType::F32), va = be.empty({n}, DType::F32);
  for (Tensor* t : {&ma, &va}) be.fill(*t, 0.0f);
  Tensor mb = clone(be, ma), vb = clone(be, va);
  for (int step = 1; step <= 3; ++step) {
    CAPTURE(step);
    const std::vector<float> g =
        random_floats(size_t(n), -500.0f, 500.0f, uint32_t(step * 31 + n), DType::F32);
    Tensor ga = make(be, g, {n}, DType::F32), gb = make(be, g, {n}, DType::F32);
    Rounding r;
    r.stochastic = k.stochastic;
    r.seed = 99;
    r.offset = uint64_t(step);
    fused(be, pa, ga, ma, va, step, r, prep, has_working ? &wa : nullptr);
    // the separate ops, as optimizer_step ran them before fusion
    be.unscale_and_check(gb, prep.inv_scale);
    if (prep.clip) be.scale(gb, prep.clip_coef);
    separate(be, pb, gb, mb, vb, step, r);
    if (has_working) be.cast(pb, wb);
    if (prep.zero_grad) be.fill(gb, 0.0f);
    CHECK(bytes(be, pa) == bytes(be, pb));
    CHECK(bytes(be, ma) == bytes(be, mb));
    CHECK(bytes(be, va) == bytes(be, vb));
    if (has_working) CHECK(bytes(be, wa) == bytes(be, wb));
    if (prep.zero_grad) CHECK(bytes(be, ga) == bytes(be, gb));
  }
}

std::vector<GradPrep> preps() {
  std::vector<GradPrep> v;
  for (float inv : {1.0f, 1.0f / 256.0f})
    for (bool clip : {false, true})
      for (bool zero : {false, true}) {
        GradPrep p;
        p.inv_scale = inv;
        p.clip = clip;
        p.clip_coef = clip ? 0.37f : 1.0f;
        p.zero_grad = zero;
        v.push_back(p);
      }
  return v;
}

const Case kCases[] = {{DType::F32, DType::F32, false},
                       {DType::F32, DType::BF16, false},
                       {DType::F32, DType::F16, false},
                       {DType::BF16, DType::BF16, true},
                       {DType::BF16, DType::BF16, false}};

}  // namespace

TEST_CASE("adamw_step_fused: same bits as unscale, clip, adamw_step, cast, zero") {
  for (const Case& k : kCases)
    for (int64_t n : {int64_t(5), int64_t(40000)})
      for (const GradPrep& prep : preps())
        for (bool use_default : {false, true}) {
          CAPTURE(dtype_name(k.master));
          CAPTURE(dtype_name(k.working));
          CAPTURE(k.stochastic);
          CAPTURE(n);
          CAPTURE(prep.inv_scale);
          CAPTURE(prep.clip);
          CAPTURE(prep.zero_grad);
          CAPTURE(use_default);
          auto hyper = [](int step) {
            AdamWHyper h;
            h.lr = 1e-2f;
            h.weight_decay = 0.1f;
            h.step = step;
            return h;
          };
          compare_fused(
              k, n, prep,
              [&](Backend& be, Tensor& p, Tensor& g, Tensor& m, Tensor& v, int step,
                  const Rounding& r, const GradPrep& gp, Tensor* w) {
                if (use_default)
                  adamw_step_fused_by_ops(be, p, g, m, v, hyper(step), r, gp, w);
                else
                  be.adamw_step_fused(p, g, m, v, hyper(step), r, gp, w);
              },
              [&](Backend& be, Tensor& p, Tensor& g, Tensor& m, Tensor& v, int step,
                  const Rounding& r) { be.adamw_step(p, g, m, v, hyper(step), r); });
        }
}

TEST_CASE("sgd_step_fused: same bits as unscale, clip, sgd_step, cast, zero") {
  struct Sgd {
    float momentum;
    bool nesterov;
  };
  for (const Sgd s : {Sgd{0.0f, false}, Sgd{0.9f, false}, Sgd{0.9f, true}})
    for (const Case& k : kCases)
      for (int64_t n : {int64_t(5), int64_t(40000)})
        for (const GradPrep& prep : preps()) {
          CAPTURE(s.momentum);
          CAPTURE(s.nesterov);
          CAPTURE(dtype_name(k.master));
          CAPTURE(dtype_name(k.working));
          CAPTURE(n);
          CAPTURE(prep.inv_scale);
          CAPTURE(prep.clip);
          CAPTURE(prep.zero_grad);
          SgdHyper h;
          h.lr = 0.05f;
          h.momentum = s.momentum;
          h.nesterov = s.nesterov;
          h.weight_decay = 0.01f;
          compare_fused(
              k, n, prep,
              [&](Backend& be, Tensor& p, Tensor& g, Tensor& m, Tensor&, int, const Rounding& r,
                  const GradPrep& gp, Tensor* w) {
                be.sgd_step_fused(p, g, s.momentum != 0.0f ? &m : nullptr, h, r, gp, w);
              },
              [&](Backend& be, Tensor& p, Tensor& g, Tensor& m, Tensor&, int, const Rounding& r) {
                be.sgd_step(p, g, s.momentum != 0.0f ? &m : nullptr, h, r);
              });
        }
}
