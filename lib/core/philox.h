// philox.h: counter-based Philox4x32-10 (Salmon et al., SC'11). The random stream is a pure
// function of (seed, offset, element index), so CPU and GPU produce the same numbers for the same
// element whatever the thread layout, and a run restarts the stream exactly from its offset.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/hd.h"

namespace mp {

struct Philox4 {
  uint32_t v[4];
};

MP_HD void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

// Ten rounds of Philox4x32 on counter `c` with key `k`.
MP_HD Philox4 philox4x32(Philox4 c, uint32_t k0, uint32_t k1) {
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(0xD2511F53u, c.v[0], hi0, lo0);
    philox_mulhilo(0xCD9E8D57u, c.v[2], hi1, lo1);
    Philox4 n;
    n.v[0] = hi1 ^ c.v[1] ^ k0;
    n.v[1] = lo1;
    n.v[2] = hi0 ^ c.v[3] ^ k1;
    n.v[3] = lo0;
    c = n;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return c;
}

// 32 random bits for element `i` of the stream (seed, offset): block i/4, word i%4.
MP_HD uint32_t philox_bits(uint64_t seed, uint64_t offset, uint64_t i) {
  const uint64_t block = i >> 2;
  Philox4 c{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
             static_cast<uint32_t>(offset), static_cast<uint32_t>(offset >> 32)}};
  const Philox4 r = philox4x32(c, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  return r.v[i & 3];
}

// Uniform in (0, 1]: never 0, so log() is safe. 24 bits of resolution.
MP_HD float bits_to_unit(uint32_t b) { return (static_cast<float>(b >> 8) + 1.0f) * (1.0f / 16777216.0f); }

MP_HD float philox_uniform(uint64_t seed, uint64_t offset, uint64_t i) {
  return bits_to_unit(philox_bits(seed, offset, i));
}

// Standard normal for element i (Box-Muller on the first two words of block i).
MP_HD float philox_normal(uint64_t seed, uint64_t offset, uint64_t i) {
  Philox4 c{{static_cast<uint32_t>(i), static_cast<uint32_t>(i >> 32), static_cast<uint32_t>(offset),
             static_cast<uint32_t>(offset >> 32) ^ 0x80000000u}};
  const Philox4 r = philox4x32(c, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  const float u1 = bits_to_unit(r.v[0]);
  const float u2 = bits_to_unit(r.v[1]);
  return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853071795864f * u2);
}

}  // namespace mp
