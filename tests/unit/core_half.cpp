// core_half.cpp: exhaustive proof of the fp16 / bf16 conversions in core/half.h.
//   - half -> float for all 65536 patterns, bit for bit against F16C `vcvtph2ps` and an
//     independent field decode; half -> float -> half round trip.
//   - float -> half for all 2^32 float patterns, bit for bit against F16C `vcvtps2ph`
//     (round to nearest even), NaNs included.
//   - float -> bf16 for all 2^32 float patterns: against AVX512-BF16 `vcvtneps2bf16` wherever the
//     operand is not a float subnormal (the instruction flushes those), and against an
//     independent double-arithmetic reference on subnormals, zeros, infinities and NaNs (on
//     everything when the CPU lacks AVX512-BF16).
//   - bf16 -> float exact for all 65536; named values; stochastic rounding exactly unbiased.
// The 2^32 scans run chunk by chunk over OpenMP threads; our conversion is vectorised by the
// compiler (omp simd) in the same functions that call the 16-wide hardware reference.
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "core/half.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define MP_TEST_X86 1
#endif

namespace {

using mp::bf16_bits_to_float;
using mp::f32_bits;
using mp::f32_from_bits;
using mp::float_to_bf16_bits;
using mp::float_to_half_bits;
using mp::half_bits_to_float;

// ---- independent reference: nearest value of a binary format, computed in double ---------------

// A binary floating-point format: `p` significand bits (with the implicit one), smallest normal
// exponent `emin`, largest finite value `max_finite`; encoded as sign | biased exponent | fraction.
struct Format {
  int p;
  int emin;
  double max_finite;
  int exp_bits;
};
constexpr Format kHalf{11, -14, 65504.0, 5};
constexpr Format kBf16{8, -126, 0x1.fep127, 8};

int total_bits(const Format& f) { return 1 + f.exp_bits + (f.p - 1); }
uint32_t inf_bits(const Format& f) { return ((1u << f.exp_bits) - 1u) << (f.p - 1); }

// Encodes a non-negative value that is exactly representable in `f` (or > max: inf). Returns
// kNotExact (which matches no 16-bit pattern, so a scan reports it) if r is not representable;
// no doctest assertion here, as this runs inside OpenMP regions.
constexpr uint32_t kNotExact = 0xffffffffu;
uint32_t encode_exact(const Format& f, double r) {
  if (r > f.max_finite) return inf_bits(f);
  if (r == 0) return 0;
  const double min_normal = std::ldexp(1.0, f.emin);
  if (r < min_normal) {  // subnormal: r = k * 2^(emin - (p-1))
    const double k = std::ldexp(r, -(f.emin - (f.p - 1)));
    if (k != std::floor(k)) return kNotExact;
    return static_cast<uint32_t>(k);
  }
  const int e = std::ilogb(r);
  const double frac = std::ldexp(r, -e) - 1.0;  // in [0, 1)
  const double m = std::ldexp(frac, f.p - 1);
  if (m != std::floor(m)) return kNotExact;
  return (static_cast<uint32_t>(e - f.emin + 1) << (f.p - 1)) | static_cast<uint32_t>(m);
}

// Round-to-nearest-even of a finite or infinite float to format `f`, by comparing distances to the
// two neighbours in double (every quantity here is exact in double). NaNs are not handled here.
uint32_t ref_round(const Format& f, float x) {
  const uint32_t sign = std::signbit(x) ? (1u << (total_bits(f) - 1)) : 0u;
  const double a = std::fabs(static_cast<double>(x));
  if (std::isinf(a)) return sign | inf_bits(f);
  if (a == 0) return sign;
  const int e = std::max(std::ilogb(a), f.emin);
  const double ulp = std::ldexp(1.0, e - (f.p - 1));
  const double q = std::floor(a / ulp);  // a / ulp is exact (power-of-two scaling)
  const double lo = q * ulp, hi = (q + 1) * ulp;
  const double dlo = a - lo, dhi = hi - a;
  double r;
  if (dlo < dhi) r = lo;
  else if (dhi < dlo) r = hi;
  else r = std::fmod(q, 2.0) == 0 ? lo : hi;  // tie: the even neighbour
  const uint32_t bits = encode_exact(f, r);    // hi beyond the largest finite value: inf
  return bits == kNotExact ? bits : sign | bits;
}

// Exact value of a bit pattern of format `f` (NaN for NaN patterns).
double ref_decode(const Format& f, uint32_t bits) {
  const int mbits = f.p - 1;
  const bool neg = (bits >> (total_bits(f) - 1)) & 1u;
  const uint32_t e = (bits >> mbits) & ((1u << f.exp_bits) - 1u);
  const uint32_t m = bits & ((1u << mbits) - 1u);
  double v;
  if (e == (1u << f.exp_bits) - 1u) v = m ? std::nan("") : INFINITY;
  else if (e == 0) v = std::ldexp(static_cast<double>(m), f.emin - mbits);
  else v = std::ldexp(1.0 + std::ldexp(static_cast<double>(m), -mbits), static_cast<int>(e) - 1 + f.emin);
  return neg ? -v : v;
}

// The NaN rule of both F16C and AVX512-BF16 float -> narrow conversions: same sign, exponent all
// ones, quiet bit set, the top (p-2) bits of the float's payload below the quiet bit kept.
uint32_t ref_nan(const Format& f, uint32_t x) {
  const uint32_t sign = (x >> 31) ? (1u << (total_bits(f) - 1)) : 0u;
  const int mbits = f.p - 1;
  const uint32_t payload = (x & 0x7fffffu) >> (23 - mbits);  // top mbits of the float fraction
  return sign | inf_bits(f) | (1u << (mbits - 1)) | payload;
}

uint32_t ref_convert(const Format& f, uint32_t x) {
  const float v = f32_from_bits(x);
  return std::isnan(v) ? ref_nan(f, x) : ref_round(f, v);
}

// ---- the scan driver ----------------------------------------------------------------------------

constexpr uint32_t kChunk = 4096;  // elements per chunk (multiple of 16)

struct ScanResult {
  uint64_t checked = 0;
  uint64_t mismatches = 0;
  uint64_t first = UINT64_MAX;  // lowest input pattern that mismatched
  uint16_t got = 0, want = 0;
  double seconds = 0;
};

// Runs fn(start, n, ours, ref) over [begin, end) in chunks on all OpenMP threads, compares the two
// output buffers and records mismatches.
template <class Fn> ScanResult scan(uint64_t begin, uint64_t end, Fn fn) {
  ScanResult res;
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t nchunks = static_cast<int64_t>((end - begin + kChunk - 1) / kChunk);
#pragma omp parallel
  {
    std::vector<uint16_t> ours(kChunk), ref(kChunk);
    uint64_t bad = 0, first = UINT64_MAX;
    uint16_t got = 0, want = 0;
#pragma omp for schedule(dynamic, 256)
    for (int64_t c = 0; c < nchunks; ++c) {
      const uint64_t s = begin + static_cast<uint64_t>(c) * kChunk;
      const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(kChunk, end - s));
      fn(static_cast<uint32_t>(s), n, ours.data(), ref.data());
      if (std::memcmp(ours.data(), ref.data(), n * sizeof(uint16_t)) == 0) continue;
      for (uint32_t j = 0; j < n; ++j) {
        if (ours[j] == ref[j]) continue;
        ++bad;
        if (s + j < first) {
          first = s + j;
          got = ours[j];
          want = ref[j];
        }
      }
    }
#pragma omp critical
    {
      res.mismatches += bad;
      if (first < res.first) {
        res.first = first;
        res.got = got;
        res.want = want;
      }
    }
  }
  res.checked = end - begin;
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

void report(const char* what, const ScanResult& r) {
  std::printf("  %-48s %11llu inputs %6.2f s on %d threads, %llu mismatches\n", what,
              static_cast<unsigned long long>(r.checked), r.seconds, omp_get_max_threads(),
              static_cast<unsigned long long>(r.mismatches));
  INFO(what << ": first mismatch at float bits 0x" << std::hex << r.first << ": ours 0x" << r.got
            << ", reference 0x" << r.want);
  CHECK(r.mismatches == 0);
}

// Our conversions over a chunk, written so that the compiler vectorises them (the functions that
// call these are compiled for the widest ISA the CPU has, and these inline into them).
inline void ours_half(uint32_t s, uint32_t n, uint16_t* out) {
#pragma omp simd
  for (uint32_t j = 0; j < n; ++j) out[j] = float_to_half_bits(f32_from_bits(s + j));
}
inline void ours_bf16(uint32_t s, uint32_t n, uint16_t* out) {
#pragma omp simd
  for (uint32_t j = 0; j < n; ++j) out[j] = float_to_bf16_bits(f32_from_bits(s + j));
}

// A reference result as 16 bits; kNotExact (a reference failure) becomes a forced mismatch.
uint16_t ref16(uint32_t r, uint16_t ours) {
  return r > 0xffffu ? static_cast<uint16_t>(~ours) : static_cast<uint16_t>(r);
}

void chunk_half_independent(uint32_t s, uint32_t n, uint16_t* ours, uint16_t* ref) {
  ours_half(s, n, ours);
  for (uint32_t j = 0; j < n; ++j) ref[j] = ref16(ref_convert(kHalf, s + j), ours[j]);
}
void chunk_bf16_independent(uint32_t s, uint32_t n, uint16_t* ours, uint16_t* ref) {
  ours_bf16(s, n, ours);
  for (uint32_t j = 0; j < n; ++j) ref[j] = ref16(ref_convert(kBf16, s + j), ours[j]);
}

#if MP_TEST_X86
#define MP_AVX512_TARGET "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"
// F16C from CPUID leaf 1, ECX bit 29 (clang 14's __builtin_cpu_supports does not know "f16c").
bool cpu_f16c() {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) != 0;
}
bool have_f16c() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_f16c(); }
bool have_avx512() {
  return have_f16c() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}
bool have_avx512bf16() { return have_avx512() && __builtin_cpu_supports("avx512bf16"); }

// n is a multiple of 16 (8) in the chunks these see: kChunk and the scanned ranges are aligned.
__attribute__((target(MP_AVX512_TARGET))) void chunk_half_avx512(uint32_t s, uint32_t n,
                                                                  uint16_t* ours, uint16_t* ref) {
  ours_half(s, n, ours);
  __m512i v = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(s)),
                               _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  const __m512i step = _mm512_set1_epi32(16);
  for (uint32_t j = 0; j < n; j += 16) {
    // maskz form: the plain one trips a GCC 12 -Wmaybe-uninitialized false positive in its header
    const __m256i h = _mm512_maskz_cvtps_ph(0xffff, _mm512_castsi512_ps(v), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(ref + j), h);
    v = _mm512_add_epi32(v, step);
  }
}

__attribute__((target("avx2,fma,f16c"))) void chunk_half_f16c(uint32_t s, uint32_t n,
                                                              uint16_t* ours, uint16_t* ref) {
  ours_half(s, n, ours);
  __m256i v = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(s)),
                               _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const __m256i step = _mm256_set1_epi32(8);
  for (uint32_t j = 0; j < n; j += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_castsi256_ps(v), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(ref + j), h);
    v = _mm256_add_epi32(v, step);
  }
}

__attribute__((target(MP_AVX512_TARGET ",avx512bf16"))) void chunk_bf16_avx512(
    uint32_t s, uint32_t n, uint16_t* ours, uint16_t* ref) {
  ours_bf16(s, n, ours);
  __m512i v = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(s)),
                               _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  const __m512i step = _mm512_set1_epi32(16);
  for (uint32_t j = 0; j < n; j += 16) {
    const __m256bh b = _mm512_cvtneps_pbh(_mm512_castsi512_ps(v));
    std::memcpy(ref + j, &b, 32);
    v = _mm512_add_epi32(v, step);
  }
}

// Scalar F16C (the vector forms: the scalar _cvtss_sh macro is not -Wpedantic clean in clang).
__attribute__((target("f16c"))) float f16c_half_to_float(uint16_t h) {
  return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}
__attribute__((target("f16c"))) uint16_t f16c_float_to_half(float f) {
  const __m128i h = _mm_cvtps_ph(_mm_set_ss(f), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  return static_cast<uint16_t>(_mm_extract_epi16(h, 0));
}
#else
bool have_avx512() { return false; }
bool have_f16c() { return false; }
bool have_avx512bf16() { return false; }
#endif

uint16_t half_bits(float f) { return float_to_half_bits(f); }
uint16_t bf16_bits(float f) { return float_to_bf16_bits(f); }

}  // namespace

// ---- half <-> float -----------------------------------------------------------------------------

TEST_CASE("half -> float: all 65536 patterns exact, bit for bit as F16C") {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = half_bits_to_float(static_cast<uint16_t>(h));
    const uint32_t u = f32_bits(f);
    const double want = ref_decode(kHalf, h);
    INFO("half bits 0x" << std::hex << h << " -> float bits 0x" << u);
    if (std::isnan(want)) {
      // NaN: same sign, payload in the top fraction bits, quiet bit set.
      REQUIRE(std::isnan(f));
      REQUIRE(u == (((h & 0x8000u) << 16) | 0x7fc00000u | ((h & 0x3ffu) << 13)));
    } else {
      REQUIRE(static_cast<double>(f) == want);
      REQUIRE(std::signbit(f) == ((h & 0x8000u) != 0));
    }
#if MP_TEST_X86
    if (have_f16c()) REQUIRE(u == f32_bits(f16c_half_to_float(static_cast<uint16_t>(h))));
#endif
  }
}

TEST_CASE("half -> float -> half round trip: same bits (NaNs come back quiet, as F16C)") {
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint16_t back = float_to_half_bits(half_bits_to_float(static_cast<uint16_t>(h)));
    const bool nan = (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0;
    INFO("half bits 0x" << std::hex << h << " came back as 0x" << back);
    REQUIRE(back == (nan ? (h | 0x200u) : h));
#if MP_TEST_X86
    if (have_f16c())
      REQUIRE(back == f16c_float_to_half(f16c_half_to_float(static_cast<uint16_t>(h))));
#endif
  }
}

TEST_CASE("float -> half: all 2^32 patterns bit for bit as F16C vcvtps2ph (nearest even)") {
#if MP_TEST_X86
  if (have_avx512()) {
    report("float->half vs _mm512_cvtps_ph", scan(0, uint64_t{1} << 32, chunk_half_avx512));
    return;
  }
  if (have_f16c()) {
    report("float->half vs _mm256_cvtps_ph", scan(0, uint64_t{1} << 32, chunk_half_f16c));
    return;
  }
#endif
  // No F16C: the independent reference on every pattern instead (slow, but never a sample).
  report("float->half vs double reference", scan(0, uint64_t{1} << 32, chunk_half_independent));
}

// ---- bf16 <-> float -----------------------------------------------------------------------------

TEST_CASE("bf16 -> float: all 65536 patterns exact") {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = bf16_bits_to_float(static_cast<uint16_t>(b));
    const double want = ref_decode(kBf16, b);
    INFO("bf16 bits 0x" << std::hex << b);
    if (std::isnan(want)) {
      REQUIRE(std::isnan(f));
      REQUIRE(f32_bits(f) == b << 16);  // payload and quiet/signalling bit unchanged
    } else {
      REQUIRE(static_cast<double>(f) == want);
      REQUIRE(std::signbit(f) == ((b & 0x8000u) != 0));
    }
    REQUIRE(bf16_bits(f) == (std::isnan(want) ? (b | 0x40u) : b));  // round trip
  }
}

TEST_CASE("float -> bf16: all 2^32 patterns (AVX512-BF16 on non-subnormals, exact reference on the rest)") {
  const uint64_t sub_pos_end = 0x00800000u, neg = 0x80000000u, sub_neg_end = 0x80800000u;
  const uint64_t inf_pos = 0x7f800000u, inf_neg = 0xff800000u, all = uint64_t{1} << 32;
#if MP_TEST_X86
  if (have_avx512bf16()) {
    // The instruction treats subnormal operands as zero (DAZ); everything else, NaNs and zeros
    // included, it rounds to nearest even exactly as we must.
    ScanResult a = scan(sub_pos_end, neg, chunk_bf16_avx512);
    const ScanResult b = scan(sub_neg_end, all, chunk_bf16_avx512);
    a.checked += b.checked;
    a.mismatches += b.mismatches;
    a.seconds += b.seconds;
    if (b.first < a.first) {
      a.first = b.first;
      a.got = b.got;
      a.want = b.want;
    }
    report("float->bf16 vs _mm512_cvtneps_pbh", a);
    // Subnormals and zeros (the instruction would flush), infinities and NaNs (checked against the
    // instruction above too) against the independent reference.
    report("float->bf16 +subnormal/zero vs double reference", scan(0, sub_pos_end, chunk_bf16_independent));
    report("float->bf16 -subnormal/zero vs double reference", scan(neg, sub_neg_end, chunk_bf16_independent));
    report("float->bf16 +inf/NaN vs reference", scan(inf_pos, neg, chunk_bf16_independent));
    report("float->bf16 -inf/NaN vs reference", scan(inf_neg, all, chunk_bf16_independent));
    return;
  }
  MESSAGE("no AVX512-BF16 on this CPU: checking all 2^32 inputs against the double reference");
#endif
  (void)sub_pos_end, (void)neg, (void)sub_neg_end, (void)inf_pos, (void)inf_neg;
  report("float->bf16 vs double reference", scan(0, all, chunk_bf16_independent));
}

// The double reference itself, on a few hand-checked points (so a bug there cannot hide one in ours).
TEST_CASE("independent reference sanity") {
  CHECK(ref_round(kHalf, 1.0f) == 0x3c00u);
  CHECK(ref_round(kHalf, 65504.0f) == 0x7bffu);
  CHECK(ref_round(kHalf, 65520.0f) == 0x7c00u);
  CHECK(ref_round(kHalf, 0x1p-24f) == 0x0001u);
  CHECK(ref_round(kHalf, 0x1p-25f) == 0x0000u);
  CHECK(ref_round(kBf16, 1.0f) == 0x3f80u);
  CHECK(ref_round(kBf16, 0x1.01p0f) == 0x3f80u);  // tie to even (down)
  CHECK(ref_round(kBf16, 0x1.03p0f) == 0x3f82u);  // tie to even (up)
  CHECK(ref_round(kBf16, -0x1p-149f) == 0x8000u);
  CHECK(ref_round(kBf16, 0x1p-133f) == 0x0001u);
  CHECK(ref_nan(kHalf, 0x7f802000u) == 0x7e01u);
  CHECK(ref_nan(kBf16, 0xff800001u) == 0xffc0u);
}

// ---- named values -------------------------------------------------------------------------------

TEST_CASE("half: named values") {
  CHECK(half_bits(65504.0f) == 0x7bffu);                   // largest finite
  CHECK(half_bits(65519.99f) == 0x7bffu);                  // just below the overflow threshold
  CHECK(half_bits(65520.0f) == 0x7c00u);                   // halfway to 2^16: ties to even -> inf
  CHECK(half_bits(-65520.0f) == 0xfc00u);
  CHECK(half_bits(INFINITY) == 0x7c00u);
  CHECK(half_bits(-INFINITY) == 0xfc00u);
  CHECK(half_bits(0x1p-24f) == 0x0001u);                   // smallest subnormal
  CHECK(half_bits(0x1p-25f) == 0x0000u);                   // tie between 0 and 2^-24: even = 0
  CHECK(half_bits(-0x1p-25f) == 0x8000u);
  CHECK(half_bits(0x1.000002p-25f) == 0x0001u);            // just above the tie
  CHECK(half_bits(3 * 0x1p-26f) == 0x0001u);               // 0.75 * 2^-24 -> 2^-24
  CHECK(half_bits(3 * 0x1p-25f) == 0x0002u);               // 1.5 * 2^-24: tie -> 2 (even)
  CHECK(half_bits(5 * 0x1p-25f) == 0x0002u);               // 2.5 * 2^-24: tie -> 2 (even)
  CHECK(half_bits(0x1p-14f) == 0x0400u);                   // smallest normal
  CHECK(half_bits(0x1.ff8p-15f) == 0x03ffu);               // largest subnormal, 1023 * 2^-24
  CHECK(half_bits(0x1.ffbffep-15f) == 0x03ffu);            // just below 1023.5 * 2^-24
  CHECK(half_bits(0x1.ffcp-15f) == 0x0400u);               // the tie: rounds to even, a normal
  CHECK(half_bits(-0.0f) == 0x8000u);
  CHECK(half_bits(0.0f) == 0x0000u);
  CHECK(half_bits(1.0f) == 0x3c00u);
  CHECK(half_bits(-2.0f) == 0xc000u);
  CHECK(half_bits(0x1.002p0f) == 0x3c00u);                 // 1 + half ulp: tie -> 1 (even)
  CHECK(half_bits(0x1.006p0f) == 0x3c02u);                 // 1 + 3 half ulps: tie -> even up
  CHECK(half_bits(0x1.002002p0f) == 0x3c01u);              // just above the tie
  CHECK(half_bits(2049.0f) == 0x6800u);                    // 2048 + 1 (ulp 2): tie -> 2048
  CHECK(half_bits(2051.0f) == 0x6802u);                    // tie -> 2052
  CHECK(std::signbit(half_bits_to_float(0x8000u)));
  CHECK(half_bits_to_float(0x7bffu) == 65504.0f);
  CHECK(half_bits_to_float(0x0001u) == 0x1p-24f);
  CHECK(std::isinf(half_bits_to_float(0x7c00u)));
  CHECK(std::isnan(half_bits_to_float(0x7e00u)));
  // half struct and the generic load/store helpers
  CHECK(static_cast<float>(mp::half(0.1f)) == 0x1.998p-4f);
  CHECK(mp::from_float<mp::half>(3.0f).bits == 0x4200u);
  CHECK(mp::to_float(mp::half::from_bits(0x3555u)) == 0x1.554p-2f);
  CHECK(mp::round_to<mp::half>(1.0f / 3.0f) == 0x1.554p-2f);
  CHECK(mp::round_to<float>(1.0f / 3.0f) == 1.0f / 3.0f);
}

TEST_CASE("bf16: named values") {
  CHECK(bf16_bits(0x1.fep127f) == 0x7f7fu);                // largest finite bf16
  CHECK(bf16_bits_to_float(0x7f7fu) == 0x1.fep127f);
  CHECK(bf16_bits(0x1.fefffep127f) == 0x7f7fu);            // below the overflow tie
  CHECK(bf16_bits(0x1.ffp127f) == 0x7f80u);                // the tie: even neighbour is 2^128 = inf
  CHECK(bf16_bits(FLT_MAX) == 0x7f80u);
  CHECK(bf16_bits(-FLT_MAX) == 0xff80u);
  CHECK(bf16_bits(INFINITY) == 0x7f80u);
  CHECK(bf16_bits(-INFINITY) == 0xff80u);
  CHECK(bf16_bits(1.0f) == 0x3f80u);
  CHECK(bf16_bits(0x1.01p0f) == 0x3f80u);                  // tie -> even (down)
  CHECK(bf16_bits(0x1.03p0f) == 0x3f82u);                  // tie -> even (up)
  CHECK(bf16_bits(0x1.010002p0f) == 0x3f81u);              // just above the tie
  CHECK(bf16_bits(-0x1.01p0f) == 0xbf80u);
  CHECK(bf16_bits(-0.0f) == 0x8000u);
  CHECK(bf16_bits(0x1p-126f) == 0x0080u);                  // smallest normal
  CHECK(bf16_bits(0x1p-133f) == 0x0001u);                  // smallest bf16 subnormal: kept
  CHECK(bf16_bits(0x1p-134f) == 0x0000u);                  // tie between 0 and 2^-133 -> 0
  CHECK(bf16_bits(3 * 0x1p-135f) == 0x0001u);              // 0.75 * 2^-133 -> 2^-133
  CHECK(bf16_bits(-0x1p-149f) == 0x8000u);                 // smallest float subnormal -> -0
  CHECK(bf16_bits(0x1.fcp-127f) == 0x007fu);               // largest bf16 subnormal
  CHECK(bf16_bits(0x1.fffffcp-127f) == 0x0080u);           // rounds up into the normals
  CHECK(bf16_bits(f32_from_bits(0x7f800001u)) == 0x7fc0u); // signalling NaN -> quiet, sign kept
  CHECK(bf16_bits(f32_from_bits(0xffc12345u)) == 0xffc1u); // payload's top bits kept
  CHECK(std::isnan(bf16_bits_to_float(bf16_bits(NAN))));
  CHECK(static_cast<float>(mp::bfloat16(0.1f)) == 0x1.9ap-4f);
  CHECK(mp::round_to<mp::bfloat16>(1.0f / 3.0f) == 0x1.56p-2f);
}

// ---- stochastic rounding ------------------------------------------------------------------------

namespace {
// Over all 65536 values of rand16: every result is one of the two bf16 neighbours of x, the count
// that rounds up equals the exact fractional position of x between them times 65536, and so the
// mean of the results equals x exactly (the sum is exact in double).
void check_stochastic(float x) {
  INFO("x = " << x << " (bits 0x" << std::hex << f32_bits(x) << ")");
  const double a = std::fabs(static_cast<double>(x));
  // Neighbours from the independent reference: truncate toward zero at bf16 precision.
  const int e = a == 0 ? kBf16.emin : std::max(std::ilogb(a), kBf16.emin);
  const double ulp = std::ldexp(1.0, e - (kBf16.p - 1));
  const double lo = std::floor(a / ulp) * ulp, hi = lo + ulp;
  const double frac = (a - lo) / ulp;  // exact: a k / 65536 with integer k
  REQUIRE(frac * 65536 == std::floor(frac * 65536));
  const uint32_t sign = std::signbit(x) ? 0x8000u : 0u;
  REQUIRE(encode_exact(kBf16, lo) != kNotExact);
  REQUIRE(encode_exact(kBf16, hi) != kNotExact);
  const uint16_t lo_bits = static_cast<uint16_t>(sign | encode_exact(kBf16, lo));
  const uint16_t hi_bits = static_cast<uint16_t>(sign | encode_exact(kBf16, hi));
  uint64_t ups = 0;
  double sum = 0;
  for (uint32_t r = 0; r < 65536; ++r) {
    const uint16_t b = mp::float_to_bf16_bits_stochastic(x, r);
    REQUIRE((b == lo_bits || b == hi_bits));
    ups += (b == hi_bits);
    sum += (b == hi_bits) ? hi : lo;  // inf as the value 2^128 (its neighbour position)
  }
  CHECK(ups == static_cast<uint64_t>(frac * 65536));
  CHECK(sum / 65536 == a);  // unbiased, exactly
  // Only the low 16 bits of the random word are used.
  CHECK(mp::float_to_bf16_bits_stochastic(x, 0x12340000u) == mp::float_to_bf16_bits_stochastic(x, 0));
}
}  // namespace

TEST_CASE("bf16 stochastic rounding: exactly unbiased over all rand16") {
  const float named[] = {1.0f,         0x1.01p0f,     0x1.00fffep0f, 0x1.000002p0f, -0x1.2345p-3f,
                         1.0f / 3.0f,  -1.0f / 3.0f,  0.1f,          1e-40f,        -0x1p-149f,
                         0x1.fffffep-127f, 0x1.fep127f, 0x1.feffp127f, 0x1.fffffep127f, -FLT_MAX,
                         0.0f,         -0.0f,         65504.0f,      3.0e38f,       -7.5e-39f};
  for (float x : named) check_stochastic(x);
  std::mt19937 gen(12345);
  for (int k = 0; k < 300; ++k) {
    float x;
    do x = f32_from_bits(static_cast<uint32_t>(gen()));
    while (!std::isfinite(x));
    check_stochastic(x);
  }
  // inf and NaN pass through whatever the random bits.
  for (uint32_t r : {0u, 1u, 0x7fffu, 0x8000u, 0xffffu}) {
    CHECK(mp::float_to_bf16_bits_stochastic(INFINITY, r) == 0x7f80u);
    CHECK(mp::float_to_bf16_bits_stochastic(-INFINITY, r) == 0xff80u);
    CHECK(mp::float_to_bf16_bits_stochastic(f32_from_bits(0x7fc12345u), r) == 0x7fc1u);
    CHECK(mp::float_to_bf16_bits_stochastic(f32_from_bits(0xff800001u), r) == 0xffc0u);
  }
}
