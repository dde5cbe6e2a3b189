// backend_reduce.cpp: sum, sum_squares (fp64 reference, determinism across thread counts, finite
// where fp32 squares overflow), unscale_and_check (inf/NaN anywhere, finite values that overflow
// when unscaled by 1/S > 1, scaling), magnitude_stats, bias_grad (column sums, beta).
#include <doctest/doctest.h>

#include "unit/backend_test_util.h"

using namespace mp;
using namespace mp::test;

TEST_CASE("sum and sum_squares: fp64 reference within an fp32 block bound, all dtypes") {
  Backend& be = cpu_be();
  for (DType dt : kFloatTypes)
    for (int64_t n : {int64_t(0), int64_t(1), int64_t(2047), int64_t(2048), int64_t(2049), int64_t(100003)}) {
      CAPTURE(dtype_name(dt));
      CAPTURE(n);
      const auto x = random_floats(size_t(n), -1, 3, uint32_t(n + 1), dt);
      Tensor t = make(be, x, {n}, dt);
      double s = 0, a = 0, q = 0;
      for (float v : x) {
        s += v;
        a += std::fabs(v);
        q += double(v) * v;
      }
      // each fp32 lane sums at most 2048/16 + 1 terms; partials are combined in fp64
      const double u = std::ldexp(1.0, -24) * 130;
      CHECK(std::fabs(be.sum(t) - s) <= u * a + 1e-300);
      CHECK(std::fabs(be.sum_squares(t) - q) <= 2 * u * q + 1e-300);
    }
}

TEST_CASE("sum: bit-identical for 1 and 2 threads") {
  auto be1 = make_cpu_backend(1), be2 = make_cpu_backend(2);
  const auto x = random_floats(300007, -1, 1, 77, DType::F32);
  Tensor t1 = make(*be1, x, {300007}, DType::F32), t2 = make(*be2, x, {300007}, DType::F32);
  CHECK(be1->sum(t1) == be2->sum(t2));
  CHECK(be1->sum_squares(t1) == be2->sum_squares(t2));
}

TEST_CASE("sum_squares: finite for finite values whose fp32 squares overflow, fp64 reference") {
  auto be1 = make_cpu_backend(1), be2 = make_cpu_backend(2);
  for (int64_t n : {int64_t(1), int64_t(2049), int64_t(300007)}) {
    CAPTURE(n);
    // |x| up to FLT_MAX / 2: x^2 up to ~3e76 (fp32 overflows above 1.8e19); the sum stays < 1e83.
    auto x = random_floats(size_t(n), -1.7e38f, 1.7e38f, uint32_t(n + 3), DType::F32);
    x[0] = std::numeric_limits<float>::max();
    double q = 0;
    for (float v : x) q += double(v) * v;
    Tensor t1 = make(*be1, x, {n}, DType::F32), t2 = make(*be2, x, {n}, DType::F32);
    const double s1 = be1->sum_squares(t1);
    CHECK(std::isfinite(s1));
    CHECK(s1 == doctest::Approx(q).epsilon(1e-11));  // fp64 sums in two orders
    CHECK(s1 == be2->sum_squares(t2));  // deterministic: the same bits for 1 and 2 threads
  }
}

TEST_CASE("unscale_and_check: inv_scale > 1 flags finite elements that overflow when unscaled") {
  Backend& be = cpu_be();
  for (DType dt : kFloatTypes) {
    CAPTURE(dtype_name(dt));
    const float big = dt == DType::F32 ? 0.6f * std::numeric_limits<float>::max() : 30000.0f;
    auto x = random_floats(5000, -1, 1, 4, dt);
    Tensor ok = make(be, x, {5000}, dt);
    CHECK_FALSE(be.unscale_and_check(ok, 4.0f));
    x[4321] = big;  // finite as stored; x 4 beyond fp32 (fp16/bf16 elements: x 2^120)
    Tensor t = make(be, x, {5000}, dt);
    CHECK(be.unscale_and_check(t, dt == DType::F32 ? 4.0f : std::ldexp(1.0f, 120)));
  }
}

TEST_CASE("unscale_and_check: finds inf/NaN anywhere and scales every element") {
  Backend& be = cpu_be();
  const int64_t n = 10001;
  for (DType dt : kFloatTypes) {
    CAPTURE(dtype_name(dt));
    const auto x = random_floats(size_t(n), -100, 100, 8, dt);
    Tensor t = make(be, x, {n}, dt);
    CHECK_FALSE(be.unscale_and_check(t, 0.5f));
    const auto y = get(be, t);
    for (int64_t i = 0; i < n; ++i) REQUIRE(y[size_t(i)] == float(round_ref(x[size_t(i)] * 0.5, dt)));
    for (int64_t pos : {int64_t(0), n / 2, n - 1})
      for (float bad : {INFINITY, -INFINITY, NAN}) {
        CAPTURE(pos);
        CAPTURE(bad);
        auto xb = x;
        xb[size_t(pos)] = bad;
        Tensor tb = make(be, xb, {n}, dt);
        CHECK(be.unscale_and_check(tb, 1.0f / 1024));
      }
  }
}

TEST_CASE("magnitude_stats: count of 0 < |x| * factor < threshold and max |x|") {
  Backend& be = cpu_be();
  for (DType dt : kFloatTypes) {
    auto x = random_floats(50000, -1, 1, 9, dt);
    x[17] = 0.0f;
    x[999] = float(round_ref(-7.5, dt));
    Tensor t = make(be, x, {50000}, dt);
    int64_t below = -1;
    float mx = -1;
    be.magnitude_stats(t, 4.0f, 0.5f, below, mx);
    int64_t want = 0;
    for (float v : x) want += (std::fabs(double(v)) * 4.0 > 0 && std::fabs(double(v)) * 4.0 < 0.5);
    CHECK(below == want);
    CHECK(mx == 7.5f);
  }
}

TEST_CASE("bias_grad: column sums of dy in fp32, beta = 0 overwrites (even NaN), beta = 1 adds") {
  Backend& be = cpu_be();
  for (DType dt : kFloatTypes)
    for (int64_t M : {int64_t(1), int64_t(3), int64_t(300), int64_t(1000)})
      for (int64_t N : {int64_t(1), int64_t(10), int64_t(1500)}) {
        CAPTURE(dtype_name(dt));
        CAPTURE(M);
        CAPTURE(N);
        const auto dy = random_floats(size_t(M * N), -1, 1, uint32_t(M * 7 + N), dt);
        Tensor tdy = make(be, dy, {M, N}, dt);
        Tensor db = make(be, std::vector<float>(size_t(N), NAN), {N}, DType::F32);
        be.bias_grad(tdy, db, 0.0f);
        auto got = get(be, db);
        std::vector<double> ref(static_cast<size_t>(N), 0.0), mag(static_cast<size_t>(N), 0.0);
        for (int64_t r = 0; r < M; ++r)
          for (int64_t j = 0; j < N; ++j) {
            ref[size_t(j)] += dy[size_t(r * N + j)];
            mag[size_t(j)] += std::fabs(dy[size_t(r * N + j)]);
          }
        for (int64_t j = 0; j < N; ++j)
          REQUIRE(std::fabs(got[size_t(j)] - ref[size_t(j)]) <= 300 * std::ldexp(1.0, -24) * mag[size_t(j)] + 1e-30);
        be.bias_grad(tdy, db, 1.0f);  // accumulate a second micro-batch
        const auto got2 = get(be, db);
        for (int64_t j = 0; j < N; ++j)
          REQUIRE(std::fabs(got2[size_t(j)] - 2 * ref[size_t(j)]) <= 600 * std::ldexp(1.0, -24) * mag[size_t(j)] + 1e-30);
      }
}
