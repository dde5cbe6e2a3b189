// backend_gemm.cpp: CPU GEMM (oneDNN) in fp32/fp16/bf16 against an fp64 reference: all four
// transpose combinations, awkward sizes, alpha/beta, bias, fp32 output from low-precision inputs,
// batched; error bounds from K and the unit roundoff, plus bit-exact checks that the output is the
// single RNE rounding of the exact result where that result is exact in fp32.
#include <doctest/doctest.h>

#include "backend/cpu/cpu_backend.h"
#include "unit/backend_test_util.h"

using namespace mp;
using namespace mp::test;

namespace {

struct Case {
  int64_t M, N, K;
};

// Stored shapes of A and B for op(A) [M,K], op(B) [K,N].
Shape a_shape(bool ta, int64_t M, int64_t K) { return ta ? Shape{K, M} : Shape{M, K}; }
Shape b_shape(bool tb, int64_t K, int64_t N) { return tb ? Shape{N, K} : Shape{K, N}; }
double at(const std::vector<float>& a, bool t, int64_t r, int64_t c, int64_t R, int64_t C) {
  return t ? a[size_t(c * R + r)] : a[size_t(r * C + c)];
}

// fp64 reference: ref = alpha * op(A) op(B) + beta * C0 + bias, and mag = the same with absolute
// values (for error bounds).
void reference(bool ta, bool tb, double alpha, const std::vector<float>& A,
               const std::vector<float>& B, double beta, const std::vector<float>& C0,
               const std::vector<float>* bias, int64_t M, int64_t N, int64_t K,
               std::vector<double>& ref, std::vector<double>& mag) {
  ref.assign(size_t(M * N), 0.0);
  mag.assign(size_t(M * N), 0.0);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0, m = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double p = at(A, ta, i, k, M, K) * at(B, tb, k, j, K, N);
        s += p;
        m += std::fabs(p);
      }
      double r = alpha * s, g = std::fabs(alpha) * m;
      if (beta != 0) {
        r += beta * C0[size_t(i * N + j)];
        g += std::fabs(beta * C0[size_t(i * N + j)]);
      }
      if (bias) {
        r += (*bias)[size_t(j)];
        g += std::fabs((*bias)[size_t(j)]);
      }
      ref[size_t(i * N + j)] = r;
      mag[size_t(i * N + j)] = g;
    }
}

// |C - ref| <= u_out |ref| + 2 (K + 3) u_fp32 * mag (+ half the smallest subnormal of the output
// dtype, the absolute error of a result in the subnormal range): one output rounding plus fp32
// accumulation.
void check_bound(const std::vector<float>& C, const std::vector<double>& ref,
                 const std::vector<double>& mag, int64_t K, DType out) {
  const double u32 = std::ldexp(1.0, -24), uo = out == DType::F32 ? 0.0 : unit_roundoff(out);
  const double sub = 0.5 * dtype_min_subnormal(out);
  for (size_t i = 0; i < C.size(); ++i) {
    const double tol = uo * std::fabs(ref[i]) + 2.0 * double(K + 3) * u32 * mag[i] + sub;
    if (!(std::fabs(C[i] - ref[i]) <= tol)) {
      FAIL_CHECK("element " << i << ": got " << C[i] << ", fp64 reference " << ref[i] << ", tol " << tol);
      return;
    }
  }
}

void run_random(DType dt, DType out, bool ta, bool tb, Case c, float alpha, float beta, bool with_bias,
                DType bias_dt, uint32_t seed) {
  Backend& be = cpu_be();
  auto A = random_floats(size_t(c.M * c.K), -1, 1, seed, dt);
  auto B = random_floats(size_t(c.K * c.N), -1, 1, seed + 1, dt);
  auto C0 = random_floats(size_t(c.M * c.N), -1, 1, seed + 2, out);
  auto bias = random_floats(size_t(c.N), -1, 1, seed + 3, bias_dt);
  Tensor tA = make(be, A, a_shape(ta, c.M, c.K), dt), tB = make(be, B, b_shape(tb, c.K, c.N), dt);
  Tensor tC = make(be, C0, {c.M, c.N}, out), tbias = make(be, bias, {c.N}, bias_dt);
  be.gemm(ta, tb, alpha, tA, tB, beta, tC, with_bias ? &tbias : nullptr);
  std::vector<double> ref, mag;
  reference(ta, tb, alpha, A, B, beta, C0, with_bias ? &bias : nullptr, c.M, c.N, c.K, ref, mag);
  check_bound(get(be, tC), ref, mag, c.K, out);
}

// Dyadic inputs k/64 with |k| <= 64 (exact in bf16 and fp16): products are multiples of 2^-12 and
// sums of up to K = 64 of them are exact in fp32 but need more significand bits than fp16/bf16
// have, so each low-precision output is exactly one RNE rounding of the exact value.
std::vector<float> dyadic(size_t n, uint32_t seed, int range = 64, float unit = 1.0f / 64) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(-range, range);
  std::vector<float> v(n);
  for (auto& x : v) x = float(d(rng)) * unit;
  return v;
}

}  // namespace

TEST_CASE("gemm: fp32/fp16/bf16, all transposes and awkward sizes, within the K-derived bound") {
  const Case cases[] = {{1, 1, 1}, {1, 7, 3}, {5, 1, 9}, {17, 33, 65}, {64, 31, 1}, {3, 5, 130}, {33, 17, 257}};
  uint32_t seed = 1;
  for (DType dt : kFloatTypes)
    for (int t = 0; t < 4; ++t)
      for (const Case& c : cases) {
        const bool ta = t & 1, tb = t & 2;
        CAPTURE(dtype_name(dt));
        CAPTURE(ta);
        CAPTURE(tb);
        CAPTURE(c.M);
        CAPTURE(c.N);
        CAPTURE(c.K);
        run_random(dt, dt, ta, tb, c, 1.0f, 0.0f, false, DType::F32, seed++);
        run_random(dt, dt, ta, tb, c, 0.7f, 0.3f, true, DType::F32, seed++);
        run_random(dt, dt, ta, tb, c, 1.0f, 1.0f, true, dt, seed++);
        if (dt != DType::F32) run_random(dt, DType::F32, ta, tb, c, 1.0f, 1.0f, false, DType::F32, seed++);
      }
}

TEST_CASE("gemm: output is exactly the single RNE rounding of the exact result") {
  Backend& be = cpu_be();
  const int64_t M = 13, N = 11, K = 24;
  uint32_t seed = 100;
  for (DType dt : kFloatTypes)
    for (DType out : {dt, DType::F32})
      for (int t = 0; t < 4; ++t)
        for (int variant = 0; variant < 3; ++variant) {
          const bool ta = t & 1, tb = t & 2;
          // variant 0: plain; 1: alpha 0.5, beta 0.25 + bias; 2: alpha 2, beta 1 + bias (post-op)
          const float alpha = variant == 0 ? 1.0f : variant == 1 ? 0.5f : 2.0f;
          const float beta = variant == 0 ? 0.0f : variant == 1 ? 0.25f : 1.0f;
          const bool with_bias = variant != 0;
          const DType bias_dt = variant == 2 ? out : DType::F32;
          CAPTURE(dtype_name(dt));
          CAPTURE(dtype_name(out));
          CAPTURE(ta);
          CAPTURE(tb);
          CAPTURE(variant);
          auto A = dyadic(size_t(M * K), seed++), B = dyadic(size_t(K * N), seed++);
          auto C0 = dyadic(size_t(M * N), seed++, 64, 1.0f);  // integers, exact in every dtype
          auto bias = dyadic(size_t(N), seed++, 16, 1.0f / 64);  // fine bits, exact in every dtype
          Tensor tA = make(be, A, a_shape(ta, M, K), dt), tB = make(be, B, b_shape(tb, K, N), dt);
          Tensor tC = make(be, C0, {M, N}, out), tb_ = make(be, bias, {N}, bias_dt);
          be.gemm(ta, tb, alpha, tA, tB, beta, tC, with_bias ? &tb_ : nullptr);
          std::vector<double> ref, mag;
          reference(ta, tb, alpha, A, B, beta, C0, with_bias ? &bias : nullptr, M, N, K, ref, mag);
          const auto got = get(be, tC);
          int rounded = 0, differs_if_double_rounded = 0;
          for (size_t i = 0; i < got.size(); ++i) {
            REQUIRE(float(ref[i]) == ref[i]);  // exact in fp32: the test's premise
            const double want = round_ref(ref[i], out);
            if (want != ref[i]) ++rounded;
            // A backend that rounded alpha*AB to the output dtype before adding beta*C + bias
            // would get this instead:
            const double extra = beta * C0[i] + (with_bias ? bias[i % N] : 0.0);
            const double twice = round_ref(round_ref(ref[i] - extra, out) + extra, out);
            if (twice != want) ++differs_if_double_rounded;
            if (bits(got[i]) != bits(float(want))) {
              FAIL_CHECK("element " << i << ": got " << got[i] << ", expected RNE(" << ref[i]
                                    << ") = " << want);
              break;
            }
          }
          if (out != DType::F32) {
            CHECK(rounded > int(got.size()) / 4);  // the data really exercises the rounding
            if (with_bias) CHECK(differs_if_double_rounded > 0);
          }
        }
}

TEST_CASE("gemm: bias added in fp32 before the one rounding (bf16 257.5 -> 258, not 256)") {
  Backend& be = cpu_be();
  // AB = 256, beta*C = 1, bias = 0.5: exact 257.5 rounds to 258 in bf16 (spacing 2 at 256).
  // Rounding 256 + 1 first gives 256 (tie to even), then 256.5 -> 256.
  for (DType dt : {DType::BF16, DType::F16}) {
    const float big = dt == DType::BF16 ? 256.0f : 2048.0f;  // fp16 spacing is 2 at 2048
    Tensor A = make(be, {16.0f}, {1, 1}, dt), B = make(be, {big / 16.0f}, {1, 1}, dt);
    Tensor C = make(be, {1.0f}, {1, 1}, dt), bias = make(be, {0.5f}, {1}, DType::F32);
    be.gemm(false, false, 1.0f, A, B, 1.0f, C, &bias);
    CHECK(get(be, C)[0] == big + 2.0f);
  }
}

TEST_CASE("gemm: K = 0 gives beta * C + bias; zero-sized M or N is a no-op") {
  Backend& be = cpu_be();
  for (DType dt : kFloatTypes) {
    Tensor A = be.empty({3, 0}, dt), B = be.empty({0, 2}, dt);
    Tensor C = make(be, {1, 2, 3, 4, 5, 6}, {3, 2}, dt), bias = make(be, {10, 20}, {2}, DType::F32);
    be.gemm(false, false, 1.0f, A, B, 0.5f, C, &bias);
    CHECK(get(be, C) == std::vector<float>{10.5f, 21, 11.5f, 22, 12.5f, 23});
    Tensor E = be.empty({0, 4}, dt), F = be.empty({4, 2}, dt), G = be.empty({0, 2}, dt);
    be.gemm(false, false, 1.0f, E, F, 0.0f, G);
  }
}

TEST_CASE("gemm: beta = 0 ignores whatever C held (NaN included)") {
  Backend& be = cpu_be();
  for (DType dt : kFloatTypes) {
    Tensor A = make(be, {1, 2, 3, 4}, {2, 2}, dt), B = make(be, {1, 0, 0, 1}, {2, 2}, dt);
    Tensor C = make(be, std::vector<float>(4, NAN), {2, 2}, dt);
    be.gemm(false, false, 1.0f, A, B, 0.0f, C);
    CHECK(get(be, C) == std::vector<float>{1, 2, 3, 4});
  }
}

TEST_CASE("gemm: leading dims are flattened (activations [B, T, D] times a weight)") {
  Backend& be = cpu_be();
  auto X = dyadic(2 * 3 * 4, 7), W = dyadic(4 * 5, 8);
  Tensor tX = make(be, X, {2, 3, 4}, DType::F32), tW = make(be, W, {5, 4}, DType::F32);
  Tensor Y = be.empty({2, 3, 5}, DType::F32);
  be.gemm(false, true, 1.0f, tX, tW, 0.0f, Y);
  std::vector<double> ref, mag;
  reference(false, true, 1.0, X, W, 0.0, {}, nullptr, 6, 5, 4, ref, mag);
  const auto got = get(be, Y);
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == ref[i]);
}

TEST_CASE("gemm_batched: every batch matches the per-matrix reference, all transposes") {
  Backend& be = cpu_be();
  const int64_t batch = 3, M = 5, N = 7, K = 9;
  uint32_t seed = 500;
  for (DType dt : kFloatTypes)
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      CAPTURE(dtype_name(dt));
      CAPTURE(t);
      auto A = dyadic(size_t(batch * M * K), seed++), B = dyadic(size_t(batch * K * N), seed++);
      auto C0 = dyadic(size_t(batch * M * N), seed++, 64, 1.0f);
      Shape sa = a_shape(ta, M, K), sb = b_shape(tb, K, N);
      Tensor tA = make(be, A, {batch, sa[0], sa[1]}, dt), tB = make(be, B, {batch, sb[0], sb[1]}, dt);
      Tensor tC = make(be, C0, {batch, M, N}, dt);
      be.gemm_batched(ta, tb, 0.5f, tA, tB, 1.0f, tC);
      const auto got = get(be, tC);
      for (int64_t b = 0; b < batch; ++b) {
        std::vector<float> a(A.begin() + b * M * K, A.begin() + (b + 1) * M * K);
        std::vector<float> bb(B.begin() + b * K * N, B.begin() + (b + 1) * K * N);
        std::vector<float> c(C0.begin() + b * M * N, C0.begin() + (b + 1) * M * N);
        std::vector<double> ref, mag;
        reference(ta, tb, 0.5, a, bb, 1.0, c, nullptr, M, N, K, ref, mag);
        for (int64_t i = 0; i < M * N; ++i)
          REQUIRE(bits(got[size_t(b * M * N + i)]) == bits(float(round_ref(ref[size_t(i)], dt))));
      }
    }
}

TEST_CASE("gemm: primitives are cached per shape/transpose/dtype/alpha/beta and reused") {
  cpu::CpuBackend be(1);
  Tensor A = be.empty({8, 4}, DType::F32), B = be.empty({4, 6}, DType::F32), C = be.empty({8, 6}, DType::F32);
  be.fill(A, 1.0f);
  be.fill(B, 2.0f);
  be.gemm(false, false, 1.0f, A, B, 0.0f, C);
  CHECK(be.cached_gemm_primitives() == 1);
  for (int i = 0; i < 5; ++i) be.gemm(false, false, 1.0f, A, B, 0.0f, C);
  CHECK(be.cached_gemm_primitives() == 1);
  be.gemm(false, false, 1.0f, A, B, 1.0f, C);  // beta differs
  CHECK(be.cached_gemm_primitives() == 2);
  Tensor Bt = be.empty({6, 4}, DType::F32);
  be.fill(Bt, 2.0f);
  be.gemm(false, true, 1.0f, A, Bt, 0.0f, C);  // transpose differs
  CHECK(be.cached_gemm_primitives() == 3);
  const auto got = to_host_floats(be, C);
  for (float v : got) CHECK(v == 8.0f);
}
