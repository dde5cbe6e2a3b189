// backend_attention.cpp: the attention ops on the CPU engine against scalar references written
// here: split_heads / merge_heads bit for bit (every dtype, parts 1 and 3, round trip), the
// causal softmax forward and backward against fp64 rows rounded once to the dtype (masked
// entries exactly 0 and never read: an inf there changes nothing), on one thread and on two with
// identical bits, and the argument checks.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "core/error.h"
#include "unit/backend_test_util.h"

using namespace mp;
using namespace mp::test;

namespace {

size_t z(int64_t i) { return static_cast<size_t>(i); }

// [B, T, P, H, d] -> [P][B * H, T, d], written out as loops.
std::vector<float> ref_split(const std::vector<float>& x, int64_t B, int64_t T, int64_t P,
                             int64_t H, int64_t d) {
  std::vector<float> out(x.size());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t e = 0; e < d; ++e)
            out[z((((p * B + b) * H + h) * T + t) * d + e)] =
                x[z((((b * T + t) * P + p) * H + h) * d + e)];
  return out;
}

std::vector<double> ref_softmax(const std::vector<float>& s, int64_t T) {
  std::vector<double> p(s.size(), 0.0);
  for (size_t r = 0; r < s.size() / z(T); ++r) {
    const int64_t vis = static_cast<int64_t>(r % z(T)) + 1;
    double m = -1e300, sum = 0;
    for (int64_t j = 0; j < vis; ++j) m = std::max(m, double(s[r * z(T) + z(j)]));
    for (int64_t j = 0; j < vis; ++j) sum += std::exp(double(s[r * z(T) + z(j)]) - m);
    for (int64_t j = 0; j < vis; ++j) p[r * z(T) + z(j)] = std::exp(double(s[r * z(T) + z(j)]) - m) / sum;
  }
  return p;
}

std::vector<double> ref_softmax_bwd(const std::vector<float>& p, const std::vector<float>& dp,
                                    int64_t T) {
  std::vector<double> ds(p.size(), 0.0);
  for (size_t r = 0; r < p.size() / z(T); ++r) {
    const int64_t vis = static_cast<int64_t>(r % z(T)) + 1;
    double c = 0;
    for (int64_t j = 0; j < vis; ++j) c += double(p[r * z(T) + z(j)]) * dp[r * z(T) + z(j)];
    for (int64_t j = 0; j < vis; ++j)
      ds[r * z(T) + z(j)] = double(p[r * z(T) + z(j)]) * (dp[r * z(T) + z(j)] - c);
  }
  return ds;
}

// got within `ulps` units of roundoff of the once-rounded reference (relative to |want| + tiny).
void check_rows(const std::vector<float>& got, const std::vector<double>& want, int64_t T,
                DType dt, double ulps, double floor, const std::string& what) {
  const double u = unit_roundoff(dt);
  // fp16's subnormals (below 2^-14) have a fixed quantum: relative bounds start there.
  if (dt == DType::F16) floor = std::max(floor, std::ldexp(1.0, -14));
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const bool masked = int64_t(i % z(T)) > int64_t((i / z(T)) % z(T));
    if (masked) {
      if (bits(got[i]) != 0u && bad++ < 3) FAIL_CHECK(what << "[" << i << "] masked: " << got[i]);
      continue;
    }
    if (!(std::abs(got[i] - want[i]) <= ulps * u * (std::abs(want[i]) + floor)) && bad++ < 3)
      FAIL_CHECK(what << "[" << i << "]: got " << got[i] << ", want " << want[i]);
  }
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " elements off");
}

}  // namespace

TEST_CASE("split_heads / merge_heads: the [B,T,P,H,d] <-> [P][B*H,T,d] permute, bit for bit") {
  Backend& be = cpu_be();
  for (DType dt : kFloatTypes)
    for (auto [B, T, P, H, d] : {std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>{2, 5, 3, 2, 4},
                                 {1, 1, 1, 1, 1}, {3, 7, 1, 4, 3}, {4, 64, 3, 4, 32}}) {
      CAPTURE(dtype_name(dt));
      CAPTURE(T);
      const int64_t W = P * H * d;
      const auto x = random_floats(z(B * T * W), -2.0f, 2.0f, 11, dt);
      Tensor xt = make(be, x, {B, T, W}, dt);
      Tensor heads = be.empty({P * B * H, T, d}, dt);
      be.split_heads(xt, heads, P, H);
      const auto got = get(be, heads);
      const auto want = ref_split(x, B, T, P, H, d);
      for (size_t i = 0; i < got.size(); ++i) REQUIRE(bits(got[i]) == bits(want[i]));
      Tensor back = be.empty({B, T, W}, dt);
      be.fill(back, 0.0f);
      be.merge_heads(heads, back, P, H);
      const auto rt = get(be, back);
      for (size_t i = 0; i < rt.size(); ++i) REQUIRE(bits(rt[i]) == bits(x[i]));
    }
}

TEST_CASE("causal_softmax forward and backward vs fp64 rows; masked entries exactly 0, never read") {
  auto be1 = make_cpu_backend(1);
  Backend& be2 = cpu_be();  // two threads: rows run in parallel at the larger sizes
  for (DType dt : kFloatTypes)
    for (auto [N, T] : {std::pair<int64_t, int64_t>{1, 1}, {3, 5}, {2, 17}, {8, 64}, {1, 130}}) {
      CAPTURE(dtype_name(dt));
      CAPTURE(N);
      CAPTURE(T);
      auto s = random_floats(z(N * T * T), -6.0f, 6.0f, 3, dt);
      // Masked scores are not read: poison them.
      for (size_t i = 0; i < s.size(); ++i)
        if (int64_t(i % z(T)) > int64_t((i / z(T)) % z(T))) s[i] = i % 2 ? INFINITY : NAN;
      Tensor st = make(*be1, s, {N, T, T}, dt);
      Tensor p = be1->empty({N, T, T}, dt);
      be1->causal_softmax_forward(st, p);
      const auto pg = get(*be1, p);
      // fp32 math then one rounding: 1 u of dt plus fp32 error, which the argument s - m of exp
      // dominates (|s - m| <= 12 here, rounded to 2^-24 relative: up to ~12 fp32 ulps of p).
      const double ulps = dt == DType::F32 ? 32.0 : 1.5;
      check_rows(pg, ref_softmax(s, T), T, dt, ulps, 1e-30, "p");
      const auto dp = random_floats(z(N * T * T), -1.0f, 1.0f, 4, dt);
      Tensor dpt = make(*be1, dp, {N, T, T}, dt);
      Tensor ds = be1->empty({N, T, T}, dt);
      be1->causal_softmax_backward(p, dpt, ds);
      // |ds| may cancel: tolerance relative to the row scale (|p| <= 1, |dp| <= 1).
      check_rows(get(*be1, ds), ref_softmax_bwd(pg, dp, T), T, dt,
                 dt == DType::F32 ? 64.0 : 2.0, 2e-2, "ds");
      // Two threads: the same bits.
      Tensor st2 = make(be2, s, {N, T, T}, dt), p2 = be2.empty({N, T, T}, dt);
      be2.causal_softmax_forward(st2, p2);
      Tensor dp2 = make(be2, dp, {N, T, T}, dt), ds2 = be2.empty({N, T, T}, dt);
      be2.causal_softmax_backward(p2, dp2, ds2);
      const auto pg2 = get(be2, p2), dsg = get(*be1, ds), dsg2 = get(be2, ds2);
      for (size_t i = 0; i < pg.size(); ++i) {
        REQUIRE(bits(pg2[i]) == bits(pg[i]));
        REQUIRE(bits(dsg2[i]) == bits(dsg[i]));
      }
    }
}

TEST_CASE("causal_softmax: rows of huge scores are stable (max subtracted in fp32)") {
  Backend& be = cpu_be();
  const int64_t T = 4;
  std::vector<float> s(z(T * T), 0.0f);
  for (int64_t r = 0; r < T; ++r)
    for (int64_t j = 0; j <= r; ++j) s[z(r * T + j)] = 6.0e4f + float(j);  // exp would overflow
  Tensor st = make(be, s, {1, T, T}, DType::F16), p = be.empty({1, T, T}, DType::F16);
  be.causal_softmax_forward(st, p);
  check_rows(get(be, p), ref_softmax(get(be, st), T), T, DType::F16, 1.5, 1e-30, "p");
}

TEST_CASE("attention ops: argument checks name the op and the argument") {
  Backend& be = cpu_be();
  auto msg = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const InternalError& e) {
      return e.what();
    }
    return "accepted";
  };
  Tensor x = be.empty({2, 3, 12}, DType::F32);
  Tensor h_ok = be.empty({12, 3, 2}, DType::F32);
  Tensor h_bad = be.empty({6, 3, 4}, DType::F32);
  Tensor h_16 = be.empty({12, 3, 2}, DType::F16);
  const std::string m1 = msg([&] { be.split_heads(x, h_bad, 3, 2); });
  CHECK(m1.find("split_heads: out") != std::string::npos);
  CHECK(m1.find("[12, 3, 2]") != std::string::npos);
  CHECK(msg([&] { be.split_heads(x, h_16, 3, 2); }).find("split_heads: out must be fp32") != std::string::npos);
  CHECK(msg([&] { be.merge_heads(h_ok, x, 5, 1); }).find("merge_heads: out") != std::string::npos);
  CHECK(msg([&] { be.split_heads(x, h_ok, 3, 2); }) == "accepted");
  Tensor s = be.empty({2, 3, 4}, DType::F32), p = be.empty({2, 3, 4}, DType::F32);
  CHECK(msg([&] { be.causal_softmax_forward(s, p); }).find("causal_softmax_forward: s") != std::string::npos);
  Tensor sq = be.empty({2, 4, 4}, DType::F32), p16 = be.empty({2, 4, 4}, DType::BF16);
  CHECK(msg([&] { be.causal_softmax_forward(sq, p16); }).find("p must be fp32") != std::string::npos);
  Tensor small = be.empty({1, 4, 4}, DType::F32);
  CHECK(msg([&] { be.causal_softmax_backward(sq, small, sq); }).find("causal_softmax_backward: dp") != std::string::npos);
}
