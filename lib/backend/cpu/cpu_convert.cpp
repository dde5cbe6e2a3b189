// cpu_convert.cpp: the bulk fp16/bf16 <-> fp32 converters of cpu_convert.h (F16C intrinsics for
// fp16, AVX2 integer code for bf16; scalar core/half.h for the tails).
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
    case DType::F16: float_to_half(src, n, static_cast<uint16_t*>(dst)); return;
    case DType::BF16: float_to_bf16(src, n, static_cast<uint16_t*>(dst)); return;
    default: MP_CHECK(false, "store_floats: not a float dtype: " + std::string(dtype_name(dt)));
  }
}

}  // namespace mp::cpu
