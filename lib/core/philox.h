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

// The four words of block `block` of the stream (seed, offset): elements 4 block .. 4 block + 3.
MP_HD Philox4 philox_block(uint64_t seed, uint64_t offset, uint64_t block) {
  Philox4 c{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
             static_cast<uint32_t>(offset), static_cast<uint32_t>(offset >> 32)}};
  return philox4x32(c, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// 32 random bits for element `i` of the stream (seed, offset): block i/4, word i%4.
MP_HD uint32_t philox_bits(uint64_t seed, uint64_t offset, uint64_t i) {
  return philox_block(seed, offset, i >> 2).v[i & 3];
}

// w[k] = philox_bits(seed, offset, 4 * b0 + Ph + k) for k < K: each block the run covers is
// computed once (every index is a compile-time constant, so on a GPU w stays in registers).
template <int K, int Ph>
MP_HD void philox_run_at(uint64_t seed, uint64_t offset, uint64_t b0, uint32_t* w) {
  constexpr int kBlocks = (Ph + K + 3) / 4;
  for (int nb = 0; nb < kBlocks; ++nb) {
    const Philox4 r = philox_block(seed, offset, b0 + static_cast<uint64_t>(nb));
    for (int q = 0; q < 4; ++q) {
      const int k = nb * 4 + q - Ph;
      if (k >= 0 && k < K) w[k] = r.v[q];
    }
  }
}

// w[k] = philox_bits(seed, offset, i0 + k) for k < K, with one Philox4x32 call per block of 4
// elements the run touches instead of one per element (vectorised CUDA maps: cuda_vec.cuh).
template <int K>
MP_HD void philox_run(uint64_t seed, uint64_t offset, uint64_t i0, uint32_t* w) {
  const uint64_t b0 = i0 >> 2;
  switch (static_cast<int>(i0 & 3)) {
    case 0: philox_run_at<K, 0>(seed, offset, b0, w); break;
    case 1: philox_run_at<K, 1>(seed, offset, b0, w); break;
    case 2: philox_run_at<K, 2>(seed, offset, b0, w); break;
    default: philox_run_at<K, 3>(seed, offset, b0, w); break;
  }
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
