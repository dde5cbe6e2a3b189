// backend_rowwise.cpp: layernorm forward/backward (fp64 reference and finite differences),
// softmax cross-entropy (fp64 loss and gradient, ignore_index, ±1e4 logits, bad labels), mse and
// argmax, in all three dtypes.
#include <doctest/doctest.h>

#include "unit/backend_test_util.h"

using namespace mp;
using namespace mp::test;

namespace {

// fp64 layernorm of one row.
void ln_row(const double* x, const double* g, const double* b, int64_t n, double eps, double* y,
            double* mean_out = nullptr, double* rstd_out = nullptr) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m += x[i];
  m /= double(n);
  double v = 0;
  for (int64_t i = 0; i < n; ++i) v += (x[i] - m) * (x[i] - m);
  v /= double(n);
  const double rs = 1 / std::sqrt(v + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) * rs * g[i] + b[i];
  if (mean_out) *mean_out = m;
  if (rstd_out) *rstd_out = rs;
}

std::vector<double> d(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

// L = sum(dy * layernorm(x)) in fp64.
double ln_loss(const std::vector<double>& x, const std::vector<double>& g, const std::vector<double>& b,
               const std::vector<double>& dy, int64_t rows, int64_t cols, double eps) {
  std::vector<double> y(static_cast<size_t>(cols));
  double L = 0;
  for (int64_t r = 0; r < rows; ++r) {
    ln_row(&x[size_t(r * cols)], g.data(), b.data(), cols, eps, y.data());
    for (int64_t i = 0; i < cols; ++i) L += dy[size_t(r * cols + i)] * y[size_t(i)];
  }
  return L;
}

}  // namespace

TEST_CASE("layernorm forward: fp64 reference, fp32 stats, all dtypes, shifted inputs") {
  Backend& be = cpu_be();
  const float eps = 1e-5f;
  for (DType dt : kFloatTypes)
    for (int64_t cols : {int64_t(1), int64_t(5), int64_t(64), int64_t(777)})
      for (float shift : {0.0f, 100.0f}) {
        CAPTURE(dtype_name(dt));
        CAPTURE(cols);
        CAPTURE(shift);
        const int64_t rows = 7;
        auto x = random_floats(size_t(rows * cols), shift - 2, shift + 2, uint32_t(cols), dt);
        auto g = random_floats(size_t(cols), 0.5f, 1.5f, 2, dt), b = random_floats(size_t(cols), -1, 1, 3, dt);
        Tensor tx = make(be, x, {rows, cols}, dt), tg = make(be, g, {cols}, dt), tb = make(be, b, {cols}, dt);
        Tensor ty = be.empty({rows, cols}, dt), tm = be.empty({rows}, DType::F32), tr = be.empty({rows}, DType::F32);
        be.layernorm_forward(tx, tg, tb, eps, ty, tm, tr);
        const auto y = get(be, ty), m = get(be, tm), rs = get(be, tr);
        const auto xd = d(x), gd = d(g), bd = d(b);
        std::vector<double> yr(static_cast<size_t>(cols));
        for (int64_t r = 0; r < rows; ++r) {
          double mr, rr;
          ln_row(&xd[size_t(r * cols)], gd.data(), bd.data(), cols, eps, yr.data(), &mr, &rr);
          CHECK(std::fabs(m[size_t(r)] - mr) <= 1e-6 * (std::fabs(mr) + 1));
          // fp32 statistics of inputs near 100 lose ~|mean|/std * 2^-24 relative in the variance
          CHECK(std::fabs(rs[size_t(r)] - rr) <= (2e-5 + 1e-6 * shift) * rr);
          for (int64_t i = 0; i < cols; ++i) {
            const double ref = yr[size_t(i)], got = y[size_t(r * cols + i)];
            const double tol = unit_roundoff(dt) * std::fabs(ref) + (3e-5 + 1e-6 * shift) * (std::fabs(ref) + 1);
            if (!(std::fabs(got - ref) <= tol)) FAIL_CHECK("row " << r << " col " << i << ": " << got << " vs " << ref);
          }
        }
      }
}

TEST_CASE("layernorm backward: dx, dgamma, dbeta against finite differences of the fp64 forward") {
  Backend& be = cpu_be();
  const int64_t rows = 3, cols = 17;
  const float eps = 1e-5f;
  auto x = random_floats(size_t(rows * cols), -2, 2, 21, DType::F32);
  auto g = random_floats(size_t(cols), 0.5f, 1.5f, 22, DType::F32);
  auto b = random_floats(size_t(cols), -1, 1, 23, DType::F32);
  auto dy = random_floats(size_t(rows * cols), -1, 1, 24, DType::F32);
  Tensor tx = make(be, x, {rows, cols}, DType::F32), tg = make(be, g, {cols}, DType::F32);
  Tensor tb = make(be, b, {cols}, DType::F32), tdy = make(be, dy, {rows, cols}, DType::F32);
  Tensor ty = be.empty({rows, cols}, DType::F32), tm = be.empty({rows}, DType::F32), tr = be.empty({rows}, DType::F32);
  be.layernorm_forward(tx, tg, tb, eps, ty, tm, tr);
  Tensor tdx = be.empty({rows, cols}, DType::F32);
  Tensor tdg = make(be, std::vector<float>(size_t(cols), 1.0f), {cols}, DType::F32);  // accumulated into
  Tensor tdb = make(be, std::vector<float>(size_t(cols), -1.0f), {cols}, DType::F32);
  be.layernorm_backward(tdy, tx, tg, tm, tr, tdx, tdg, tdb);
  const auto dx = get(be, tdx), dg = get(be, tdg), db = get(be, tdb);
  auto xd = d(x), gd = d(g), bd = d(b), dyd = d(dy);
  const double h = 1e-6;
  auto fd = [&](std::vector<double>& v, size_t i) {
    const double keep = v[i];
    v[i] = keep + h;
    const double lp = ln_loss(xd, gd, bd, dyd, rows, cols, eps);
    v[i] = keep - h;
    const double lm = ln_loss(xd, gd, bd, dyd, rows, cols, eps);
    v[i] = keep;
    return (lp - lm) / (2 * h);
  };
  for (size_t i = 0; i < xd.size(); ++i) CHECK(std::fabs(dx[i] - fd(xd, i)) <= 1e-4 * (std::fabs(fd(xd, i)) + 1));
  for (size_t i = 0; i < gd.size(); ++i) {
    CHECK(std::fabs((dg[i] - 1.0) - fd(gd, i)) <= 1e-4 * (std::fabs(fd(gd, i)) + 1));
    CHECK(std::fabs((db[i] + 1.0) - fd(bd, i)) <= 1e-4 * (std::fabs(fd(bd, i)) + 1));
  }
}

TEST_CASE("layernorm backward: low-precision dtypes and many rows; independent of thread count") {
  const int64_t rows = 300, cols = 96;
  auto be1 = make_cpu_backend(1);
  auto be2 = make_cpu_backend(2);
  for (DType dt : kFloatTypes) {
    CAPTURE(dtype_name(dt));
    auto x = random_floats(size_t(rows * cols), -2, 2, 31, dt), dy = random_floats(size_t(rows * cols), -1, 1, 32, dt);
    auto g = random_floats(size_t(cols), 0.5f, 1.5f, 33, dt), b = random_floats(size_t(cols), -1, 1, 34, dt);
    std::vector<float> dg_out[2], dx_out[2];
    int k = 0;
    for (Backend* be : {be1.get(), be2.get()}) {
      Tensor tx = make(*be, x, {rows, cols}, dt), tdy = make(*be, dy, {rows, cols}, dt);
      Tensor tg = make(*be, g, {cols}, dt), tb = make(*be, b, {cols}, dt), ty = be->empty({rows, cols}, dt);
      Tensor tm = be->empty({rows}, DType::F32), tr = be->empty({rows}, DType::F32);
      be->layernorm_forward(tx, tg, tb, 1e-5f, ty, tm, tr);
      Tensor tdx = be->empty({rows, cols}, dt), tdg = be->empty({cols}, DType::F32), tdb = be->empty({cols}, DType::F32);
      be->fill(tdg, 0.0f);
      be->fill(tdb, 0.0f);
      be->layernorm_backward(tdy, tx, tg, tm, tr, tdx, tdg, tdb);
      dg_out[k] = get(*be, tdg);
      dx_out[k] = get(*be, tdx);
      ++k;
    }
    CHECK(dg_out[0] == dg_out[1]);
    CHECK(dx_out[0] == dx_out[1]);
    // fp64 analytic reference: dx = rstd (g dy - mean(g dy) - xhat mean(g dy xhat))
    std::vector<double> dgr(static_cast<size_t>(cols), 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      const double* xr = nullptr;
      std::vector<double> xrow(x.begin() + r * cols, x.begin() + (r + 1) * cols);
      xr = xrow.data();
      double m = 0, v = 0;
      for (int64_t i = 0; i < cols; ++i) m += xr[i];
      m /= double(cols);
      for (int64_t i = 0; i < cols; ++i) v += (xr[i] - m) * (xr[i] - m);
      const double rs = 1 / std::sqrt(v / double(cols) + 1e-5);
      double a = 0, c = 0;
      for (int64_t i = 0; i < cols; ++i) {
        const double gdy = double(g[size_t(i)]) * dy[size_t(r * cols + i)];
        a += gdy;
        c += gdy * (xr[i] - m) * rs;
        dgr[size_t(i)] += dy[size_t(r * cols + i)] * (xr[i] - m) * rs;
      }
      a /= double(cols);
      c /= double(cols);
      for (int64_t i = 0; i < cols; ++i) {
        const double xh = (xr[i] - m) * rs;
        const double ref = rs * (double(g[size_t(i)]) * dy[size_t(r * cols + i)] - a - xh * c);
        const double got = dx_out[1][size_t(r * cols + i)];
        REQUIRE(std::fabs(got - ref) <= unit_roundoff(dt) * std::fabs(ref) + 1e-4 * (std::fabs(ref) + 0.1));
      }
    }
    for (int64_t i = 0; i < cols; ++i)
      CHECK(std::fabs(dg_out[1][size_t(i)] - dgr[size_t(i)]) <= 1e-4 * (std::fabs(dgr[size_t(i)]) + 1));
  }
}

TEST_CASE("softmax_xent: loss and gradient vs fp64, ignore_index, all dtypes") {
  Backend& be = cpu_be();
  const int64_t N = 9, C = 13;
  const int32_t ignore = -100;
  std::vector<int32_t> labels = {0, 12, 5, ignore, 7, 7, ignore, 1, 3};
  for (DType dt : kFloatTypes) {
    CAPTURE(dtype_name(dt));
    auto x = random_floats(size_t(N * C), -6, 6, 41, dt);
    Tensor tx = make(be, x, {N, C}, dt), tl = be.empty({N}, DType::I32);
    be.upload(labels.data(), tl);
    Tensor loss = be.empty({N}, DType::F32), dx = be.empty({N, C}, dt);
    be.softmax_xent(tx, tl, ignore, 0.25f, loss, &dx);
    const auto L = get(be, loss), D = get(be, dx);
    for (int64_t r = 0; r < N; ++r) {
      if (labels[size_t(r)] == ignore) {
        CHECK(L[size_t(r)] == 0.0f);
        for (int64_t j = 0; j < C; ++j) CHECK(D[size_t(r * C + j)] == 0.0f);
        continue;
      }
      double m = -1e300, s = 0;
      for (int64_t j = 0; j < C; ++j) m = std::max(m, double(x[size_t(r * C + j)]));
      for (int64_t j = 0; j < C; ++j) s += std::exp(x[size_t(r * C + j)] - m);
      const double ref = m + std::log(s) - x[size_t(r * C + labels[size_t(r)])];
      CHECK(std::fabs(L[size_t(r)] - ref) <= 2e-6 * (std::fabs(ref) + 1));
      for (int64_t j = 0; j < C; ++j) {
        const double p = std::exp(x[size_t(r * C + j)] - m) / s;
        const double g = 0.25 * (p - (j == labels[size_t(r)] ? 1.0 : 0.0));
        CHECK(std::fabs(D[size_t(r * C + j)] - g) <= unit_roundoff(dt) * std::fabs(g) + 1e-7);
      }
    }
    // loss only (no gradient) gives the same losses
    Tensor loss2 = be.empty({N}, DType::F32);
    be.softmax_xent(tx, tl, ignore, 1.0f, loss2, nullptr);
    CHECK(get(be, loss2) == L);
  }
}

TEST_CASE("softmax_xent: logits of ±1e4 are stable") {
  Backend& be = cpu_be();
  Tensor tx = make(be, {1e4f, -1e4f, 0.0f, 1e4f, 1e4f, -1e4f}, {2, 3}, DType::F32);
  std::vector<int32_t> labels = {1, 0};
  Tensor tl = be.empty({2}, DType::I32), loss = be.empty({2}, DType::F32), dx = be.empty({2, 3}, DType::F32);
  be.upload(labels.data(), tl);
  be.softmax_xent(tx, tl, -1, 1.0f, loss, &dx);
  const auto L = get(be, loss), D = get(be, dx);
  CHECK(L[0] == doctest::Approx(2e4).epsilon(1e-6));
  CHECK(L[1] == doctest::Approx(std::log(2.0)).epsilon(1e-6));
  CHECK(D == std::vector<float>{1.0f, -1.0f, 0.0f, -0.5f, 0.5f, 0.0f});
}

TEST_CASE("softmax_xent: a label outside [0, C) is a DataError naming row, label and range") {
  Backend& be = cpu_be();
  Tensor tx = make(be, {1, 2, 3, 4}, {2, 2}, DType::F32);
  std::vector<int32_t> labels = {1, 2};
  Tensor tl = be.empty({2}, DType::I32), loss = be.empty({2}, DType::F32);
  be.upload(labels.data(), tl);
  try {
    be.softmax_xent(tx, tl, -100, 1.0f, loss, nullptr);
    FAIL("no error");
  } catch (const DataError& e) {
    const std::string msg = e.what();
    CHECK(msg.find("row 1") != std::string::npos);
    CHECK(msg.find("class 2") != std::string::npos);
    CHECK(msg.find("[0, 2)") != std::string::npos);
  }
}

TEST_CASE("mse: losses and gradient vs fp64, all dtypes") {
  Backend& be = cpu_be();
  const int64_t N = 5, D = 19;
  for (DType dt : kFloatTypes) {
    CAPTURE(dtype_name(dt));
    auto p = random_floats(size_t(N * D), -2, 2, 51, dt), t = random_floats(size_t(N * D), -2, 2, 52, DType::F32);
    Tensor tp = make(be, p, {N, D}, dt), tt = make(be, t, {N, D}, DType::F32);
    Tensor loss = be.empty({N}, DType::F32), dp = be.empty({N, D}, dt);
    be.mse(tp, tt, 0.5f, loss, &dp);
    const auto L = get(be, loss), G = get(be, dp);
    for (int64_t r = 0; r < N; ++r) {
      double s = 0;
      for (int64_t j = 0; j < D; ++j) {
        const double e = double(p[size_t(r * D + j)]) - t[size_t(r * D + j)];
        s += e * e;
        CHECK(std::fabs(G[size_t(r * D + j)] - e) <= unit_roundoff(dt) * std::fabs(e) + 1e-7);  // 0.5 * 2 * e
      }
      CHECK(std::fabs(L[size_t(r)] - s) <= 1e-6 * s);
    }
  }
}

TEST_CASE("argmax_rows: first maximum of each row") {
  Backend& be = cpu_be();
  for (DType dt : kFloatTypes) {
    Tensor x = make(be, {1, 3, 3, 0, -5, -2, -7, -2, 4, 4, 4, 4}, {3, 4}, dt);
    Tensor out = be.empty({3}, DType::I32);
    be.argmax_rows(x, out);
    std::vector<int32_t> got(3);
    be.download(out, got.data());
    CHECK(got == std::vector<int32_t>{1, 1, 0});
  }
}
