// half.h: fp16 (`half`) and bfloat16 storage types for host and device code.
// Conversions from float round to nearest even, bit for bit as the hardware does:
//   float -> half   : F16C `vcvtps2ph` (imm=0) / CUDA `__float2half_rn` on every non-NaN input;
//                     a NaN stays a NaN of the same sign with its top payload bits kept (F16C);
//                     CUDA returns the canonical 0x7fff there instead.
//   float -> bf16   : CUDA `__float2bfloat16` on every non-NaN input; subnormals are kept
//                     (AVX512-BF16 `vcvtneps2bf16` flushes them, and agrees everywhere else);
//                     a NaN stays a quiet NaN of the same sign with its top payload bits kept,
//                     as `vcvtneps2bf16` does (CUDA returns the canonical 0x7fff instead).
//   half -> float   : exact; a NaN keeps sign and payload and comes back quiet (F16C `vcvtph2ps`).
//   bf16 -> float   : exact (a shift); NaNs unchanged.
// Stochastic rounding to bf16 (pure-bf16 weight updates) takes 16 random bits from the caller.
#pragma once
#include <cstdint>
#include <cstring>

#include "core/hd.h"

namespace mp {

MP_HD uint32_t f32_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}

MP_HD float f32_from_bits(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

MP_HD uint16_t float_to_half_bits(float f) {
  const uint32_t x = f32_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));  // NaN
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 (and inf) -> inf
  if (ax >= 0x38800000u) {  // normal half: rebias exponent by -112, round on the 13 dropped bits
    const uint32_t r = ax + 0xc8000fffu + ((ax >> 13) & 1u);
    return static_cast<uint16_t>(sign | (r >> 13));
  }
  const uint32_t e = ax >> 23;
  if (e < 102) return static_cast<uint16_t>(sign);  // below 2^-25: rounds to zero
  // subnormal half: value = m * 2^-24 with m = round(M * 2^(e-150) / 2^-24) = round(M >> (126-e))
  const uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
  const uint32_t s = 126u - e;  // 14..24
  uint32_t q = mant >> s;
  const uint32_t rem = mant & ((1u << s) - 1u);
  const uint32_t halfway = 1u << (s - 1u);
  if (rem > halfway || (rem == halfway && (q & 1u))) ++q;
  return static_cast<uint16_t>(sign | q);
}

MP_HD float half_bits_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu;
  uint32_t m = h & 0x3ffu;
  // inf, or NaN: payload kept, signalling NaNs quietened (F16C `vcvtph2ps` does the same)
  if (e == 0x1f) return f32_from_bits(sign | 0x7f800000u | (m << 13) | (m ? 0x400000u : 0u));
  if (e != 0) return f32_from_bits(sign | ((e + 112u) << 23) | (m << 13));
  if (m == 0) return f32_from_bits(sign);
  // subnormal: normalise
  int exp = 113;
  while ((m & 0x400u) == 0) {
    m <<= 1;
    --exp;
  }
  return f32_from_bits(sign | (static_cast<uint32_t>(exp) << 23) | ((m & 0x3ffu) << 13));
}

MP_HD uint16_t float_to_bf16_bits(float f) {
  const uint32_t x = f32_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

// Stochastic rounding: round up with probability equal to the dropped fraction. `rand16` holds
// 16 uniform random bits. Inf and NaN pass through; a finite value may round up to inf only if it
// is within one bf16 ulp of the maximum, as with round-to-nearest.
MP_HD uint16_t float_to_bf16_bits_stochastic(float f, uint32_t rand16) {
  const uint32_t x = f32_bits(f);
  if ((x & 0x7f800000u) == 0x7f800000u) return float_to_bf16_bits(f);
  return static_cast<uint16_t>((x + (rand16 & 0xffffu)) >> 16);
}

MP_HD float bf16_bits_to_float(uint16_t b) { return f32_from_bits(static_cast<uint32_t>(b) << 16); }

struct half {
  uint16_t bits;
  half() = default;
  MP_HD explicit half(float f) : bits(float_to_half_bits(f)) {}
  MP_HD explicit operator float() const { return half_bits_to_float(bits); }
  MP_HD static half from_bits(uint16_t b) {
    half h;
    h.bits = b;
    return h;
  }
};

struct bfloat16 {
  uint16_t bits;
  bfloat16() = default;
  MP_HD explicit bfloat16(float f) : bits(float_to_bf16_bits(f)) {}
  MP_HD explicit operator float() const { return bf16_bits_to_float(bits); }
  MP_HD static bfloat16 from_bits(uint16_t b) {
    bfloat16 h;
    h.bits = b;
    return h;
  }
};

static_assert(sizeof(half) == 2 && sizeof(bfloat16) == 2);

// Uniform load/store used by every kernel templated on its storage type.
MP_HD float to_float(float x) { return x; }
MP_HD float to_float(half x) { return half_bits_to_float(x.bits); }
MP_HD float to_float(bfloat16 x) { return bf16_bits_to_float(x.bits); }

template <class T> MP_HD T from_float(float x);
template <> MP_HD float from_float<float>(float x) { return x; }
template <> MP_HD half from_float<half>(float x) { return half::from_bits(float_to_half_bits(x)); }
template <> MP_HD bfloat16 from_float<bfloat16>(float x) {
  return bfloat16::from_bits(float_to_bf16_bits(x));
}

// Round a float to the precision of T and back: the value a T-typed store would keep.
template <class T> MP_HD float round_to(float x) { return to_float(from_float<T>(x)); }

}  // namespace mp
