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

// The message of the InternalError f() throws, or "accepted".
template <class F>
std::string msg(F&& f) {
  try {
    f();
  } catch (const InternalError& e) {
    return e.what();
  }
  return "accepted";
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

// ---- fused causal attention (attention_forward / attention_backward) ---------------------------

namespace {

using Vec = std::vector<double>;

// fp64 causal attention of slices [N, T, d]: out, lse, and per row the largest |score| and
// sum_j p_j |v_j| per element (the scales the rounding bounds are relative to).
struct AttnRef {
  Vec out, lse, smax, mag;
};
template <class V>
AttnRef ref_attention(const V& q, const V& k, const V& v, int64_t N, int64_t T, int64_t d,
                      double scale) {
  AttnRef r{Vec(z(N * T * d)), Vec(z(N * T)), Vec(z(N * T)), Vec(z(N * T * d))};
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < T; ++i) {
      const size_t row = z(n * T + i);
      Vec s(z(i + 1));
      double m = -1e300;
      for (int64_t j = 0; j <= i; ++j) {
        double dot = 0;
        for (int64_t e = 0; e < d; ++e) dot += double(q[row * z(d) + z(e)]) * k[z((n * T + j) * d + e)];
        s[z(j)] = scale * dot;
        m = std::max(m, s[z(j)]);
        r.smax[row] = std::max(r.smax[row], std::abs(s[z(j)]));
      }
      double l = 0;
      for (double& x : s) l += (x = std::exp(x - m));
      r.lse[row] = m + std::log(l);
      for (int64_t e = 0; e < d; ++e) {
        double o = 0, g = 0;
        for (int64_t j = 0; j <= i; ++j) {
          const double vj = v[z((n * T + j) * d + e)];
          o += s[z(j)] / l * vj;
          g += s[z(j)] / l * std::abs(vj);
        }
        r.out[row * z(d) + z(e)] = o;
        r.mag[row * z(d) + z(e)] = g;
      }
    }
  return r;
}

// The unfused path on the same engine (what causal_self_attention runs without `fused`).
struct Unfused {
  std::vector<float> out, dq, dk, dv;
};
Unfused run_unfused(Backend& be, const Tensor& q, const Tensor& k, const Tensor& v,
                    const Tensor& dout, float scale) {
  const int64_t N = q.shape()[0], T = q.shape()[1];
  const DType dt = q.dtype();
  Tensor s = be.empty({N, T, T}, dt), p = be.empty({N, T, T}, dt), dp = be.empty({N, T, T}, dt);
  Tensor o = be.empty(q.shape(), dt), dq = be.empty(q.shape(), dt), dk = be.empty(q.shape(), dt),
         dv = be.empty(q.shape(), dt);
  be.gemm_batched(false, true, scale, q, k, 0.0f, s);
  be.causal_softmax_forward(s, p);
  be.gemm_batched(false, false, 1.0f, p, v, 0.0f, o);
  be.gemm_batched(true, false, 1.0f, p, dout, 0.0f, dv);
  be.gemm_batched(false, true, 1.0f, dout, v, 0.0f, dp);
  be.causal_softmax_backward(p, dp, s);
  be.gemm_batched(false, false, scale, s, k, 0.0f, dq);
  be.gemm_batched(true, false, scale, s, q, 0.0f, dk);
  return {get(be, o), get(be, dq), get(be, dk), get(be, dv)};
}

struct Fused {
  std::vector<float> out, lse, dq, dk, dv;
};
Fused run_fused(Backend& be, const Tensor& q, const Tensor& k, const Tensor& v,
                const Tensor& dout, float scale) {
  const int64_t N = q.shape()[0], T = q.shape()[1];
  const DType dt = q.dtype();
  Tensor o = be.empty(q.shape(), dt), lse = be.empty({N, T}, DType::F32);
  Tensor dq = be.empty(q.shape(), dt), dk = be.empty(q.shape(), dt), dv = be.empty(q.shape(), dt);
  be.attention_forward(q, k, v, scale, o, lse);
  be.attention_backward(q, k, v, o, dout, lse, scale, dq, dk, dv);
  return {get(be, o), get(be, lse), get(be, dq), get(be, dk), get(be, dv)};
}

// max |got - want| / max |want| (a norm-wise relative error).
double rel_err(const std::vector<float>& got, const std::vector<float>& want) {
  double e = 0, m = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    e = std::max(e, std::abs(double(got[i]) - want[i]));
    m = std::max(m, std::abs(double(want[i])));
  }
  return e / std::max(m, 1e-30);
}

}  // namespace

TEST_CASE("attention_forward: out and lse vs fp64 (fp32 softmax statistics, one rounding)") {
  Backend& be = cpu_be();
  for (DType dt : kFloatTypes)
    for (auto [N, T, d] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 8}, {3, 7, 4}, {2, 33, 16},
                           {2, 64, 32}, {1, 130, 8}}) {
      CAPTURE(dtype_name(dt));
      CAPTURE(T);
      CAPTURE(d);
      const auto q = random_floats(z(N * T * d), -2.0f, 2.0f, 21, dt),
                 k = random_floats(z(N * T * d), -2.0f, 2.0f, 22, dt),
                 v = random_floats(z(N * T * d), -1.0f, 1.0f, 23, dt);
      const float scale = 1.0f / std::sqrt(float(d));
      Tensor qt = make(be, q, {N, T, d}, dt), kt = make(be, k, {N, T, d}, dt),
             vt = make(be, v, {N, T, d}, dt);
      Tensor o = be.empty({N, T, d}, dt), lse = be.empty({N, T}, DType::F32);
      be.attention_forward(qt, kt, vt, scale, o, lse);
      const AttnRef r = ref_attention(q, k, v, N, T, d, scale);
      const auto og = get(be, o), lg = get(be, lse);
      // fp32 scores (d products), exps and sums (T terms): an error in s of (d + 2) u32 |s|
      // relative in p, so relative to the row's sum_j p_j |v_j|; then one rounding to dt.
      const double u32 = std::ldexp(1.0, -24), ud = dt == DType::F32 ? 0.0 : unit_roundoff(dt);
      int bad = 0;
      for (size_t i = 0; i < og.size(); ++i) {
        const size_t row = i / z(d);
        const double tol = ud * std::abs(r.out[i]) +
                           4.0 * double(d + T + 8) * u32 * (1.0 + r.smax[row]) * r.mag[i] + 1e-30;
        if (!(std::abs(og[i] - r.out[i]) <= tol) && bad++ < 3)
          FAIL_CHECK("out[" << i << "]: got " << og[i] << ", want " << r.out[i] << " tol " << tol);
      }
      for (size_t i = 0; i < lg.size(); ++i) {
        const double tol = 4.0 * double(d + T + 8) * u32 * (1.0 + r.smax[i] + std::abs(r.lse[i]));
        if (!(std::abs(lg[i] - r.lse[i]) <= tol) && bad++ < 3)
          FAIL_CHECK("lse[" << i << "]: got " << lg[i] << ", want " << r.lse[i]);
      }
      CHECK(bad == 0);
    }
}

TEST_CASE("attention_backward: dq, dk, dv vs fp64 central differences of the reference") {
  Backend& be = cpu_be();
  for (auto [N, T, d] : {std::tuple<int64_t, int64_t, int64_t>{2, 5, 4}, {1, 9, 8}, {1, 1, 3}}) {
    CAPTURE(T);
    CAPTURE(d);
    const DType dt = DType::F32;
    const auto qf = random_floats(z(N * T * d), -1.5f, 1.5f, 31, dt),
               kf = random_floats(z(N * T * d), -1.5f, 1.5f, 32, dt),
               vf = random_floats(z(N * T * d), -1.0f, 1.0f, 33, dt),
               wf = random_floats(z(N * T * d), -1.0f, 1.0f, 34, dt);
    const float scale = 0.7f;
    const Fused f = run_fused(be, make(be, qf, {N, T, d}, dt), make(be, kf, {N, T, d}, dt),
                              make(be, vf, {N, T, d}, dt), make(be, wf, {N, T, d}, dt), scale);
    // L = <w, out(q, k, v)> in fp64; its gradient by central differences, one input at a time.
    Vec q(qf.begin(), qf.end()), k(kf.begin(), kf.end()), v(vf.begin(), vf.end());
    auto L = [&]() {
      const AttnRef r = ref_attention(q, k, v, N, T, d, scale);
      double s = 0;
      for (size_t i = 0; i < r.out.size(); ++i) s += wf[i] * r.out[i];
      return s;
    };
    const double h = 1e-6;
    for (auto [x, got, name] : {std::tuple<Vec*, const std::vector<float>*, const char*>{&q, &f.dq, "dq"},
                                {&k, &f.dk, "dk"}, {&v, &f.dv, "dv"}}) {
      CAPTURE(name);
      for (size_t i = 0; i < x->size(); ++i) {
        const double x0 = (*x)[i];
        (*x)[i] = x0 + h;
        const double lp = L();
        (*x)[i] = x0 - h;
        const double lm = L();
        (*x)[i] = x0;
        const double fd = (lp - lm) / (2 * h);
        REQUIRE(std::abs((*got)[i] - fd) <= 2e-5 + 1e-4 * std::abs(fd));
      }
    }
  }
}

TEST_CASE("attention fused vs the unfused ops: fp32 within fp32 rounding, fp16/bf16 within the dtype") {
  Backend& be = cpu_be();
  auto be1 = make_cpu_backend(1);
  for (DType dt : kFloatTypes)
    for (auto [N, T, d] : {std::tuple<int64_t, int64_t, int64_t>{3, 7, 4}, {2, 64, 32},
                           {1, 130, 16}, {8, 16, 8}}) {
      CAPTURE(dtype_name(dt));
      CAPTURE(T);
      CAPTURE(d);
      const Shape sh{N, T, d};
      const auto q = random_floats(z(N * T * d), -1.0f, 1.0f, 41, dt),
                 k = random_floats(z(N * T * d), -1.0f, 1.0f, 42, dt),
                 v = random_floats(z(N * T * d), -1.0f, 1.0f, 43, dt),
                 w = random_floats(z(N * T * d), -1.0f, 1.0f, 44, dt);
      const float scale = 1.0f / std::sqrt(float(d));
      Tensor qt = make(be, q, sh, dt), kt = make(be, k, sh, dt), vt = make(be, v, sh, dt),
             wt = make(be, w, sh, dt);
      const Fused f = run_fused(be, qt, kt, vt, wt, scale);
      const Unfused u = run_unfused(be, qt, kt, vt, wt, scale);
      // fp32: both compute in fp32 and differ in summation order (a few ulps per term over d + T
      // terms); fp16/bf16: the unfused path also rounds S, P, dP and dS to the dtype, a handful of
      // units of its roundoff relative to each tensor's scale.
      // (Measured: at most 0.3 (d + T) u32 and 1.6 u of fp16/bf16.)
      const double tol = dt == DType::F32 ? 2.0 * double(d + T) * std::ldexp(1.0, -24)
                                          : 6.0 * unit_roundoff(dt);
      CHECK(rel_err(f.out, u.out) <= tol);
      CHECK(rel_err(f.dq, u.dq) <= tol);
      CHECK(rel_err(f.dk, u.dk) <= tol);
      CHECK(rel_err(f.dv, u.dv) <= tol);
      // The same bits on one thread (slices are independent; no cross-thread sums).
      const Fused f1 = run_fused(*be1, make(*be1, q, sh, dt), make(*be1, k, sh, dt),
                                 make(*be1, v, sh, dt), make(*be1, w, sh, dt), scale);
      for (size_t i = 0; i < f.out.size(); ++i) {
        REQUIRE(bits(f1.out[i]) == bits(f.out[i]));
        REQUIRE(bits(f1.dq[i]) == bits(f.dq[i]));
        REQUIRE(bits(f1.dk[i]) == bits(f.dk[i]));
        REQUIRE(bits(f1.dv[i]) == bits(f.dv[i]));
      }
    }
}

TEST_CASE("attention_forward / _backward: argument checks name the op and the argument") {
  Backend& be = cpu_be();
  Tensor q = be.empty({2, 5, 4}, DType::F32), o = be.empty({2, 5, 4}, DType::F32);
  Tensor lse = be.empty({2, 5}, DType::F32);
  Tensor o16 = be.empty({2, 5, 4}, DType::F16), o_bad = be.empty({2, 4, 5}, DType::F32);
  Tensor lse16 = be.empty({2, 5}, DType::F16), lse_bad = be.empty({10}, DType::F32);
  be.fill(q, 0.5f);
  CHECK(msg([&] { be.attention_forward(q, q, q, 0.5f, o, lse); }) == "accepted");
  CHECK(msg([&] { be.attention_forward(q, q, q, 0.5f, o16, lse); }).find("attention_forward: out must be fp32") != std::string::npos);
  CHECK(msg([&] { be.attention_forward(q, q, o_bad, 0.5f, o, lse); }).find("attention_forward: v is") != std::string::npos);
  CHECK(msg([&] { be.attention_forward(q, q, q, 0.5f, o, lse16); }).find("attention_forward: lse must be fp32") != std::string::npos);
  const std::string m = msg([&] { be.attention_forward(q, q, q, 0.5f, o, lse_bad); });
  CHECK(m.find("attention_forward: lse is") != std::string::npos);
  CHECK(m.find("[2, 5]") != std::string::npos);
  CHECK(msg([&] { be.attention_forward(q, q, q, 0.0f, o, lse); }).find("scale must be finite and > 0") != std::string::npos);
  Tensor flat = be.empty({10, 4}, DType::F32);
  CHECK(msg([&] { be.attention_forward(flat, flat, flat, 0.5f, flat, lse); }).find("expected [N, T, d]") != std::string::npos);
  CHECK(msg([&] { be.attention_backward(q, q, q, o, q, lse, 0.5f, q, o_bad, q); }).find("attention_backward: dk is") != std::string::npos);
  CHECK(msg([&] { be.attention_backward(q, q, q, o, o16, lse, 0.5f, q, q, q); }).find("attention_backward: dout must be fp32") != std::string::npos);
  CHECK(be.fused_attention_supports(48));
}
