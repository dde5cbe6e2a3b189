// cpu_convert.cpp: the bulk fp16/bf16 <-> fp32 converters of cpu_convert.h (F16C intrinsics for
// fp16, AVX2 integer code for bf16, both stores also 16 lanes wide where the CPU has AVX-512;
// scalar core/half.h for the tails).
#include "backend/cpu/cpu_convert.h"

#include <immintrin.h>

#include <cstring>

#include "core/half.h"

namespace mp::cpu {
namespace {

void half_to_float(const uint16_t* src, int64_t n, float* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
  for (; i < n; ++i) dst[i] = half_bits_to_float(src[i]);
}

void float_to_half(const float* src, int64_t n, uint16_t* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
  for (; i < n; ++i) dst[i] = float_to_half_bits(src[i]);
}

void bf16_to_float(const uint16_t* src, int64_t n, float* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    const __m256i w = _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), w);
  }
  for (; i < n; ++i) dst[i] = bf16_bits_to_float(src[i]);
}

// Round to nearest even on the bit pattern, NaNs kept quiet: core/half.h's float_to_bf16_bits,
// eight lanes at a time.
void float_to_bf16(const float* src, int64_t n, uint16_t* dst) {
  const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff);
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
  const __m256i quiet = _mm256_set1_epi32(0x40);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    const __m256i hi = _mm256_srli_epi32(x, 16);
    const __m256i rne = _mm256_srli_epi32(
        _mm256_add_epi32(_mm256_add_epi32(x, bias), _mm256_and_si256(hi, one)), 16);
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, abs_mask), inf);  // |x| > inf
    const __m256i r = _mm256_blendv_epi8(rne, _mm256_or_si256(hi, quiet), nan);
    // pack the eight 32-bit lanes (each < 2^16) to 16 bits in order
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm256_castsi256_si128(packed));
  }
  for (; i < n; ++i) dst[i] = float_to_bf16_bits(src[i]);
}

// The same conversions 16 lanes at a time where the CPU has AVX-512 (the library is built for
// AVX2; these functions alone are compiled for AVX-512 and chosen at run time). Same arithmetic:
// the bf16 rounding is the integer RNE above, the fp16 one vcvtps2ph with nearest even.
__attribute__((target("avx512f,avx512bw"))) int64_t float_to_bf16_x16(const float* src, int64_t n,
                                                                      uint16_t* dst) {
  const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff);
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
  const __m512i quiet = _mm512_set1_epi32(0x40);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i x = _mm512_loadu_si512(src + i);
    const __m512i hi = _mm512_srli_epi32(x, 16);
    const __m512i rne = _mm512_srli_epi32(
        _mm512_add_epi32(_mm512_add_epi32(x, bias), _mm512_and_si512(hi, one)), 16);
    const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(x, abs_mask), inf);
    const __m512i r = _mm512_mask_blend_epi32(nan, rne, _mm512_or_si512(hi, quiet));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm512_cvtepi32_epi16(r));
  }
  return i;
}

__attribute__((target("avx512f"))) int64_t float_to_half_x16(const float* src, int64_t n,
                                                             uint16_t* dst) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i h = _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), h);
  }
  return i;
}

bool have_avx512() {
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  return yes;
}

}  // namespace

void load_floats(const void* src, DType dt, int64_t n, float* dst) {
  switch (dt) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
    case DType::F16: half_to_float(static_cast<const uint16_t*>(src), n, dst); return;
    case DType::BF16: bf16_to_float(static_cast<const uint16_t*>(src), n, dst); return;
    default: MP_CHECK(false, "load_floats: not a float dtype: " + std::string(dtype_name(dt)));
  }
}

void store_floats(const float* src, DType dt, int64_t n, void* dst) {
  switch (dt) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
    case DType::F16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      const int64_t done = have_avx512() ? float_to_half_x16(src, n, d) : 0;
      float_to_half(src + done, n - done, d + done);
      return;
    }
    case DType::BF16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      const int64_t done = have_avx512() ? float_to_bf16_x16(src, n, d) : 0;
      float_to_bf16(src + done, n - done, d + done);
      return;
    }
    default: MP_CHECK(false, "store_floats: not a float dtype: " + std::string(dtype_name(dt)));
  }
}

}  // namespace mp::cpu
