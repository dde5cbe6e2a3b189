// cpu_convert.cpp: the bulk fp16/bf16 <-> fp32 converters of cpu_convert.h (F16C intrinsics for
// fp16; plain loops the compiler vectorises for bf16; scalar core/half.h for tails).
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

void bf16_to_float(const uint16_t* __restrict src, int64_t n, float* __restrict dst) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = static_cast<uint32_t>(src[i]) << 16;
    std::memcpy(dst + i, &u, 4);
  }
}

void float_to_bf16(const float* __restrict src, int64_t n, uint16_t* __restrict dst) {
  const uint32_t* s = reinterpret_cast<const uint32_t*>(src);
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t x = s[i];
    const uint32_t rne = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
    const uint32_t nan = (x >> 16) | 0x40u;
    dst[i] = static_cast<uint16_t>((x & 0x7fffffffu) > 0x7f800000u ? nan : rne);
  }
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
