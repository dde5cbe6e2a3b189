// backend_linear_fused.cpp: the fused Linear ops (Backend::linear_gelu_forward,
// linear_dgelu_backward, linear_param_grad) on the CPU engine: against fp64 references (the
// product and column sums in fp64, pre rounded to the dtype, gelu_tanh and its derivative in
// fp64), bit for bit against the separate ops they stand for, beta accumulation, K = 0 and empty
// shapes, and the argument errors.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>

#include "backend/backend.h"
#include "core/error.h"
#include "unit/backend_test_util.h"

using namespace mp;
using namespace mp::test;

namespace {

double gelu_tanh(double x) {
  const double k = std::sqrt(2.0 / M_PI);
  return 0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x)));
}
double gelu_tanh_grad(double x) {
  const double k = std::sqrt(2.0 / M_PI);
  const double u = k * (x + 0.044715 * x * x * x);
  const double t = std::tanh(u);
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3 * 0.044715 * x * x);
}

// |got - want| <= rel * |want| + abs for every element (rel: the roundings to the dtype; abs:
// the fp32 accumulation's bound, relative to the sum of the terms' magnitudes).
void check_near(const std::vector<float>& got, const std::vector<double>& want, double rel,
                double abs, const std::string& what) {
  REQUIRE(got.size() == want.size());
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::abs(got[i] - want[i]) <= rel * std::abs(want[i]) + abs) && bad++ < 3)
      FAIL_CHECK(what << "[" << i << "]: got " << got[i] << ", want " << want[i]);
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " elements off");
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("linear_gelu_forward: pre = x w^T + b rounded once, y = gelu_tanh(pre); the separate ops' bits") {
  Backend& be = cpu_be();
  const int64_t M = 7, N = 12, K = 9;
  for (DType dt : kFloatTypes) {
    CAPTURE(dtype_name(dt));
    const auto x = random_floats(size_t(M * K), -1.5f, 1.5f, 1, dt);
    const auto w = random_floats(size_t(N * K), -1.0f, 1.0f, 2, dt);
    const auto b = random_floats(size_t(N), -0.5f, 0.5f, 3, dt);
    Tensor tx = make(be, x, {M, K}, dt), tw = make(be, w, {N, K}, dt), tb = make(be, b, {N}, dt);
    Tensor pre = be.empty({M, N}, dt), y = be.empty({M, N}, dt);
    be.linear_gelu_forward(tx, tw, &tb, pre, y);
    std::vector<double> want_pre(size_t(M * N)), want_y(want_pre.size());
    const std::vector<float> got_pre = get(be, pre);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double acc = b[size_t(j)];
        for (int64_t k = 0; k < K; ++k) acc += double(x[size_t(i * K + k)]) * w[size_t(j * K + k)];
        want_pre[size_t(i * N + j)] = acc;
        // y from the stored (rounded) pre: the CPU engine's contract
        want_y[size_t(i * N + j)] = gelu_tanh(got_pre[size_t(i * N + j)]);
      }
    const double u = unit_roundoff(dt), fp32 = std::ldexp(1.0, -24);
    // |terms| <= 1.5 each, K + 1 of them
    check_near(got_pre, want_pre, u, 2 * (K + 1) * fp32 * 1.5 * (K + 1), "pre");
    check_near(get(be, y), want_y, u + 16 * fp32, 16 * fp32 * 1e-3, "y");
    // Bit for bit the separate ops, also without a bias.
    for (const Tensor* bias : {static_cast<const Tensor*>(&tb), static_cast<const Tensor*>(nullptr)}) {
      Tensor p2 = be.empty({M, N}, dt), y2 = be.empty({M, N}, dt);
      be.gemm(false, true, 1.0f, tx, tw, 0.0f, p2, bias);
      be.activation_forward(Act::GeluTanh, p2, y2);
      be.linear_gelu_forward(tx, tw, bias, pre, y);
      for (auto [a, c] : {std::pair{&pre, &p2}, std::pair{&y, &y2}}) {
        const auto va = get(be, *a), vc = get(be, *c);
        for (size_t i = 0; i < va.size(); ++i) REQUIRE(bits(va[i]) == bits(vc[i]));
      }
    }
  }
}

TEST_CASE("linear_dgelu_backward: dpre = round(dy w) * gelu_tanh'(pre)") {
  Backend& be = cpu_be();
  const int64_t M = 5, N = 6, K = 11;  // dy [M, N], w [N, K], pre/dpre [M, K]
  for (DType dt : kFloatTypes) {
    CAPTURE(dtype_name(dt));
    const auto dy = random_floats(size_t(M * N), -1.0f, 1.0f, 4, dt);
    const auto w = random_floats(size_t(N * K), -1.0f, 1.0f, 5, dt);
    const auto pre = random_floats(size_t(M * K), -3.0f, 3.0f, 6, dt);
    Tensor tdy = make(be, dy, {M, N}, dt), tw = make(be, w, {N, K}, dt);
    Tensor tpre = make(be, pre, {M, K}, dt), dpre = be.empty({M, K}, dt);
    be.linear_dgelu_backward(tdy, tw, tpre, dpre);
    std::vector<double> want(size_t(M * K));
    for (int64_t i = 0; i < M; ++i)
      for (int64_t k = 0; k < K; ++k) {
        double acc = 0;
        for (int64_t j = 0; j < N; ++j) acc += double(dy[size_t(i * N + j)]) * w[size_t(j * K + k)];
        want[size_t(i * K + k)] = round_ref(acc, dt) * gelu_tanh_grad(pre[size_t(i * K + k)]);
      }
    const double u = unit_roundoff(dt), fp32 = std::ldexp(1.0, -24);
    // (dy w) rounded to fp32 by the GEMM (N terms of magnitude <= 1), then to dt; gelu' <= 1.13
    check_near(get(be, dpre), want, 2 * u + 16 * fp32, 2 * N * fp32 * N * 1.13, "dpre");
    Tensor g = be.empty({M, K}, dt), d2 = be.empty({M, K}, dt);
    be.gemm(false, false, 1.0f, tdy, tw, 0.0f, g);
    be.activation_backward(Act::GeluTanh, tpre, g, d2);
    const auto a = get(be, dpre), c = get(be, d2);
    for (size_t i = 0; i < a.size(); ++i) REQUIRE(bits(a[i]) == bits(c[i]));
  }
}

TEST_CASE("linear_param_grad: dw = beta dw + dy^T x, db = beta db + column sums, fp32") {
  Backend& be = cpu_be();
  const int64_t M = 9, N = 5, K = 7;  // dy [M, N], x [M, K], dw [N, K], db [N]
  for (DType dt : kFloatTypes) {
    for (float beta : {0.0f, 1.0f, 0.5f}) {
      CAPTURE(dtype_name(dt));
      CAPTURE(beta);
      const auto dy = random_floats(size_t(M * N), -1.0f, 1.0f, 7, dt);
      const auto x = random_floats(size_t(M * K), -1.0f, 1.0f, 8, dt);
      const auto dw0 = random_floats(size_t(N * K), -1.0f, 1.0f, 9, DType::F32);
      const auto db0 = random_floats(size_t(N), -1.0f, 1.0f, 10, DType::F32);
      Tensor tdy = make(be, dy, {M, N}, dt), tx = make(be, x, {M, K}, dt);
      Tensor dw = make(be, dw0, {N, K}, DType::F32), db = make(be, db0, {N}, DType::F32);
      be.linear_param_grad(tdy, tx, beta, dw, db);
      std::vector<double> want_w(static_cast<size_t>(N * K)), want_b(static_cast<size_t>(N));
      for (int64_t j = 0; j < N; ++j) {
        double s = 0;
        for (int64_t i = 0; i < M; ++i) s += dy[size_t(i * N + j)];
        want_b[size_t(j)] = beta * double(db0[size_t(j)]) + s;
        for (int64_t k = 0; k < K; ++k) {
          double acc = 0;
          for (int64_t i = 0; i < M; ++i) acc += double(dy[size_t(i * N + j)]) * x[size_t(i * K + k)];
          want_w[size_t(j * K + k)] = beta * double(dw0[size_t(j * K + k)]) + acc;
        }
      }
      const double fp32 = std::ldexp(1.0, -24);
      check_near(get(be, dw), want_w, 2 * fp32, 2 * (M + 1) * fp32 * (M + 1), "dw");
      check_near(get(be, db), want_b, 2 * fp32, 2 * (M + 1) * fp32 * (M + 1), "db");
    }
  }
}

TEST_CASE("fused linear ops: empty and K = 0 shapes") {
  Backend& be = cpu_be();
  // M = 0: nothing to do, nothing read.
  Tensor x0 = be.empty({0, 4}, DType::F32), w = be.empty({3, 4}, DType::F32);
  be.fill(w, 1.0f);
  Tensor p0 = be.empty({0, 3}, DType::F32), y0 = be.empty({0, 3}, DType::F32);
  be.linear_gelu_forward(x0, w, nullptr, p0, y0);
  // No rows (K = 0 of the weight-gradient GEMM): dw and db only scaled by beta.
  Tensor dy0 = be.empty({0, 3}, DType::F32), xk = be.empty({0, 4}, DType::F32);
  Tensor dw = be.empty({3, 4}, DType::F32), db = be.empty({3}, DType::F32);
  be.fill(dw, 2.0f);
  be.fill(db, 3.0f);
  be.linear_param_grad(dy0, xk, 0.5f, dw, db);
  for (float v : get(be, dw)) CHECK(v == 1.0f);
  for (float v : get(be, db)) CHECK(v == 1.5f);
  // K = 0 forward: pre = bias, y = gelu(bias).
  Tensor xe = be.empty({2, 0}, DType::F32), we = be.empty({3, 0}, DType::F32);
  Tensor b = make(be, {1.0f, -1.0f, 0.0f}, {3}, DType::F32);
  Tensor p = be.empty({2, 3}, DType::F32), y = be.empty({2, 3}, DType::F32);
  be.linear_gelu_forward(xe, we, &b, p, y);
  const auto vp = get(be, p), vy = get(be, y);
  CHECK(vp[1] == -1.0f);
  CHECK(vy[0] == doctest::Approx(gelu_tanh(1.0)).epsilon(1e-6));
  CHECK(vy[5] == 0.0f);
}

TEST_CASE("fused linear ops: argument errors name the op and the argument") {
  Backend& be = cpu_be();
  Tensor x = be.empty({4, 3}, DType::BF16), w = be.empty({5, 3}, DType::BF16);
  Tensor pre = be.empty({4, 5}, DType::BF16), y = be.empty({4, 5}, DType::BF16);
  Tensor pre32 = be.empty({4, 5}, DType::F32), ybad = be.empty({4, 4}, DType::BF16);
  be.fill(x, 0.0f);
  be.fill(w, 0.0f);
  CHECK(error_of([&] { be.linear_gelu_forward(x, w, nullptr, pre32, y); })
            .find("linear_gelu_forward") != std::string::npos);
  CHECK(error_of([&] { be.linear_gelu_forward(x, w, nullptr, pre32, y); }).find("pre") !=
        std::string::npos);
  CHECK(error_of([&] { be.linear_gelu_forward(x, w, nullptr, pre, ybad); }).find("y") !=
        std::string::npos);
  Tensor wbad = be.empty({5, 2}, DType::BF16);
  CHECK(error_of([&] { be.linear_gelu_forward(x, wbad, nullptr, pre, y); })
            .find("shapes do not chain") != std::string::npos);
  // dgelu: dy [4, 5], w [5, 3], pre/dpre [4, 3]
  Tensor dy = be.empty({4, 5}, DType::BF16), dpre = be.empty({4, 3}, DType::BF16);
  Tensor prebad = be.empty({4, 4}, DType::BF16);
  CHECK(error_of([&] { be.linear_dgelu_backward(dy, w, prebad, dpre); })
            .find("linear_dgelu_backward") != std::string::npos);
  // param grad: dw must be fp32, db fp32 of N elements
  Tensor dw16 = be.empty({5, 3}, DType::BF16), dw = be.empty({5, 3}, DType::F32);
  Tensor db = be.empty({5}, DType::F32), db4 = be.empty({4}, DType::F32);
  const std::string e1 = error_of([&] { be.linear_param_grad(dy, x, 1.0f, dw16, db); });
  CHECK(e1.find("linear_param_grad") != std::string::npos);
  CHECK(e1.find("dw") != std::string::npos);
  const std::string e2 = error_of([&] { be.linear_param_grad(dy, x, 1.0f, dw, db4); });
  CHECK(e2.find("db") != std::string::npos);
}
