// backend_elementwise.cpp: fill, cast, scale, add, accumulate and dropout against fp64 references
// and independent RNE rounding, in all three float dtypes, on sizes that cross tile boundaries.
#include <doctest/doctest.h>

#include "kernels/dropout.h"
#include "unit/backend_test_util.h"

using namespace mp;
using namespace mp::test;

namespace {
const int64_t kSizes[] = {1, 7, 2048, 2049, 70001};
}

TEST_CASE("fill: every element is the value rounded once to the dtype") {
  Backend& be = cpu_be();
  for (DType dt : kFloatTypes)
    for (int64_t n : kSizes) {
      Tensor t = be.empty({n}, dt);
      be.fill(t, 0.1f);
      const auto v = get(be, t);
      for (float x : v) REQUIRE(x == float(round_ref(0.1f, dt)));
    }
}

TEST_CASE("cast: every pair of float dtypes equals the independent RNE reference") {
  Backend& be = cpu_be();
  std::mt19937 rng(3);
  // Random bit patterns cover every exponent (subnormals, overflow to inf, NaN).
  std::vector<float> src(20011);
  for (auto& x : src) {
    const uint32_t u = rng();
    std::memcpy(&x, &u, 4);
  }
  // values near fp16's range too
  for (size_t i = 0; i < 4000; ++i) src[i] = std::ldexp(float(int32_t(rng())) / 2147483648.0f, int(i % 44) - 26);
  src[4000] = 65519.0f;
  src[4001] = 65520.0f;
  src[4002] = -65520.0f;
  src[4003] = 0.0f;
  src[4004] = -0.0f;
  for (DType from : kFloatTypes)
    for (DType to : kFloatTypes) {
      CAPTURE(dtype_name(from));
      CAPTURE(dtype_name(to));
      Tensor f32 = be.empty({int64_t(src.size())}, DType::F32);
      be.upload(src.data(), f32);
      Tensor a = be.empty(f32.shape(), from), b = be.empty(f32.shape(), to);
      be.cast(f32, a);
      be.cast(a, b);
      const auto got = get(be, b);
      for (size_t i = 0; i < src.size(); ++i) {
        const double want = round_ref(round_ref(src[i], from), to);
        if (std::isnan(want)) {
          REQUIRE(std::isnan(got[i]));
          continue;
        }
        if (bits(got[i]) != bits(float(want)))
          FAIL_CHECK("src " << src[i] << " -> " << got[i] << ", want " << want);
      }
    }
}

TEST_CASE("cast: the vectorised CPU conversions equal core/half.h's scalar ones bit for bit, NaNs too") {
  Backend& be = cpu_be();
  std::mt19937 rng(4);
  std::vector<float> src(10007);
  for (auto& x : src) {
    const uint32_t u = rng();
    std::memcpy(&x, &u, 4);
  }
  Tensor f32 = be.empty({int64_t(src.size())}, DType::F32);
  be.upload(src.data(), f32);
  Tensor h = be.empty(f32.shape(), DType::F16), b = be.empty(f32.shape(), DType::BF16);
  be.cast(f32, h);
  be.cast(f32, b);
  std::vector<uint16_t> hb(src.size()), bb(src.size());
  be.download(h, hb.data());
  be.download(b, bb.data());
  for (size_t i = 0; i < src.size(); ++i) {
    REQUIRE(hb[i] == float_to_half_bits(src[i]));
    REQUIRE(bb[i] == float_to_bf16_bits(src[i]));
  }
  // and back: every fp16 and bf16 bit pattern widens exactly as the scalar code does
  std::vector<uint16_t> all(65536);
  for (size_t i = 0; i < all.size(); ++i) all[i] = uint16_t(i);
  Tensor h2 = be.empty({65536}, DType::F16), b2 = be.empty({65536}, DType::BF16), w = be.empty({65536}, DType::F32);
  be.upload(all.data(), h2);
  be.upload(all.data(), b2);
  std::vector<float> wide(65536);
  be.cast(h2, w);
  be.download(w, wide.data());
  for (size_t i = 0; i < all.size(); ++i) REQUIRE(bits(wide[i]) == bits(half_bits_to_float(all[i])));
  be.cast(b2, w);
  be.download(w, wide.data());
  for (size_t i = 0; i < all.size(); ++i) REQUIRE(bits(wide[i]) == bits(bf16_bits_to_float(all[i])));
}

TEST_CASE("cast fp32 -> fp16/bf16: a 1/97 stride over all 2^32 patterns plus every pattern near "
          "zero, the normal range's edge and infinity, bit for bit as core/half.h") {
  Backend& be = cpu_be();
  std::vector<uint32_t> pats;
  for (uint64_t u = 0; u < (uint64_t(1) << 32); u += 97) pats.push_back(uint32_t(u));
  for (uint32_t sign : {0u, 0x80000000u})
    for (uint32_t base : {0x00000000u, 0x00800000u - (1u << 20), 0x38800000u - (1u << 20),
                          0x33000000u - (1u << 20), 0x477fe000u - (1u << 20),
                          0x7f800000u - (1u << 20), 0x7f800000u})
      for (uint32_t k = 0; k < (1u << 21); ++k) pats.push_back(sign | (base + k));
  const int64_t n = int64_t(pats.size());
  Tensor f32 = be.empty({n}, DType::F32), h = be.empty({n}, DType::F16);
  Tensor b = be.empty({n}, DType::BF16);
  be.upload(pats.data(), f32);
  be.cast(f32, h);
  be.cast(f32, b);
  std::vector<uint16_t> hb(static_cast<size_t>(n)), bb(static_cast<size_t>(n));
  be.download(h, hb.data());
  be.download(b, bb.data());
  int64_t bad = 0;
  for (size_t i = 0; i < pats.size(); ++i) {
    float x;
    std::memcpy(&x, &pats[i], 4);
    if (hb[i] != float_to_half_bits(x) || bb[i] != float_to_bf16_bits(x)) ++bad;
  }
  CHECK(bad == 0);
}

TEST_CASE("scale, add, accumulate: fp32 math, one rounding, mixed dtypes") {
  Backend& be = cpu_be();
  for (DType da : kFloatTypes)
    for (DType db : kFloatTypes)
      for (int64_t n : {int64_t(5), int64_t(40000)}) {
        CAPTURE(dtype_name(da));
        CAPTURE(dtype_name(db));
        const auto a = random_floats(size_t(n), -3, 3, 11, da), b = random_floats(size_t(n), -3, 3, 12, db);
        Tensor ta = make(be, a, {n}, da), tb = make(be, b, {n}, db), out = be.empty({n}, da);
        be.add(ta, tb, out);
        auto got = get(be, out);
        for (size_t i = 0; i < a.size(); ++i)
          REQUIRE(got[i] == float(round_ref(double(a[i]) + b[i], da)));  // exact sum, one rounding
        be.accumulate(tb, ta);  // ta += tb
        CHECK(get(be, ta) == got);
        be.scale(ta, 0.375f);
        const auto s = get(be, ta);
        for (size_t i = 0; i < a.size(); ++i)
          REQUIRE(s[i] == float(round_ref(double(got[i]) * 0.375, da)));
      }
}

TEST_CASE("dropout: keep fraction 1-p, kept values scaled by 1/(1-p), mask reproducible") {
  Backend& be = cpu_be();
  const int64_t n = 100003;
  for (DType dt : kFloatTypes)
    for (float p : {0.1f, 0.5f}) {
      CAPTURE(dtype_name(dt));
      CAPTURE(p);
      const auto x = random_floats(size_t(n), 0.5f, 2.0f, 5, dt);  // never 0
      Tensor tx = make(be, x, {n}, dt), ty = be.empty({n}, dt), ty2 = be.empty({n}, dt);
      be.dropout_forward(tx, ty, p, 1234, 77);
      const auto y = get(be, ty);
      int64_t kept = 0;
      const double scale = 1.0 / (1.0 - double(float(p)));
      for (int64_t i = 0; i < n; ++i) {
        const bool keep = y[size_t(i)] != 0.0f;
        kept += keep;
        // the same decision the CUDA backend computes per element
        REQUIRE(keep == kernels::dropout_keep(1234, 77, uint64_t(i), p));
        if (keep) {
          const double want = double(x[size_t(i)]) * float(scale);
          REQUIRE(std::fabs(y[size_t(i)] - want) <= (unit_roundoff(dt) + 1e-7) * want);
        }
      }
      const double sd = std::sqrt(n * p * (1 - p));
      CHECK(std::fabs(double(kept) - n * (1.0 - p)) < 5 * sd);
      // same (seed, offset): same output; other offset: a different mask
      be.dropout_forward(tx, ty2, p, 1234, 77);
      CHECK(get(be, ty2) == y);
      be.dropout_forward(tx, ty2, p, 1234, 78);
      CHECK(get(be, ty2) != y);
      // backward uses the same mask and scale: dx = dy where kept, scaled
      Tensor tdx = be.empty({n}, dt);
      be.dropout_backward(tx, tdx, p, 1234, 77);
      CHECK(get(be, tdx) == y);
      // offset_base: offset 5 plus a device value 72 is offset 77 (the value is read when the op
      // runs: set after recording a graph pass, the replay uses it); backward likewise.
      const int64_t base_v = 72;
      Tensor base = be.empty({1}, DType::I64);
      be.upload(&base_v, base);
      be.dropout_forward(tx, ty2, p, 1234, 5, &base);
      CHECK(get(be, ty2) == y);
      be.dropout_backward(tx, tdx, p, 1234, 5, &base);
      CHECK(get(be, tdx) == y);
      OpGraph g;
      be.fill(ty2, 0.0f);
      const int64_t other = 73;
      be.upload(&other, base);
      be.graph_begin(g);
      be.dropout_forward(tx, ty2, p, 1234, 5, &base);
      be.graph_end();  // captured with 73 in base: offset 78
      be.upload(&base_v, base);
      be.graph_begin(g);
      be.dropout_forward(tx, ty2, p, 1234, 5, &base);
      CHECK(be.graph_end() == GraphPass::Replayed);  // same arguments: replayed with offset 77
      CHECK(get(be, ty2) == y);
      Tensor wrong = be.empty({2}, DType::I64);
      CHECK_THROWS_WITH_AS(be.dropout_forward(tx, ty2, p, 1234, 5, &wrong),
                           doctest::Contains("offset_base"), InternalError);
    }
}

TEST_CASE("dropout: p = 0 is the identity, p = 1 zeroes everything") {
  Backend& be = cpu_be();
  const auto x = random_floats(5000, -1, 1, 9, DType::F32);
  Tensor tx = make(be, x, {5000}, DType::F32), ty = be.empty({5000}, DType::F32);
  be.dropout_forward(tx, ty, 0.0f, 1, 2);
  CHECK(get(be, ty) == x);
  be.dropout_forward(tx, ty, 1.0f, 1, 2);
  for (float v : get(be, ty)) REQUIRE(v == 0.0f);
}
