// cpu_random.cpp: Philox bits for a tile (one Philox4x32 call per 4 elements, the same numbers as
// philox_bits per element) and CpuBackend::random_uniform / random_normal.
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_map.h"
#include "core/philox.h"
#include "kernels/random.h"

namespace mp::cpu {

void philox_tile(uint64_t seed, uint64_t offset, int64_t begin, int64_t n, uint32_t* bits) {
  const uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  const uint32_t o0 = static_cast<uint32_t>(offset), o1 = static_cast<uint32_t>(offset >> 32);
  int64_t i = 0;
  for (; i < n && ((begin + i) & 3); ++i) bits[i] = philox_bits(seed, offset, uint64_t(begin + i));
  for (; i + 4 <= n; i += 4) {
    const uint64_t block = static_cast<uint64_t>(begin + i) >> 2;
    const Philox4 r = philox4x32(
        Philox4{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), o0, o1}}, k0, k1);
    for (int w = 0; w < 4; ++w) bits[i + w] = r.v[w];
  }
  for (; i < n; ++i) bits[i] = philox_bits(seed, offset, uint64_t(begin + i));
}

void CpuBackend::random_uniform_impl(Tensor& x, float lo, float hi, uint64_t seed,
                                     uint64_t offset) {
  for_each_tile(threads_, x.numel(), [&](int64_t, int64_t b, int64_t n) {
    alignas(64) float buf[kTile];
    alignas(64) uint32_t bits[kTile];
    philox_tile(seed, offset, b, n, bits);
    float* o = f32_out(x, b, buf);
    for (int64_t i = 0; i < n; ++i) o[i] = kernels::uniform_from_bits(bits[i], lo, hi);
    f32_commit(x, b, n, o);
  });
}

void CpuBackend::random_normal_impl(Tensor& x, float mean, float std, uint64_t seed,
                                    uint64_t offset) {
  for_each_tile(threads_, x.numel(), [&](int64_t, int64_t b, int64_t n) {
    alignas(64) float buf[kTile];
    float* o = f32_out(x, b, buf);
    for (int64_t i = 0; i < n; ++i)
      o[i] = kernels::normal_element(seed, offset, static_cast<uint64_t>(b + i), mean, std);
    f32_commit(x, b, n, o);
  });
}

}  // namespace mp::cpu
