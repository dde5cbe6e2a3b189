// random.h: element i of uniform and normal random fills from the Philox stream (seed, offset),
// in fp32; the caller rounds to the storage type. Same numbers on CPU and GPU.
#pragma once
#include <stdint.h>

#include "core/philox.h"

namespace mp::kernels {

// Uniform on (lo, hi]: lo + (hi - lo) * u with u in (0, 1], from the element's 32 Philox bits.
MP_HD float uniform_from_bits(uint32_t bits, float lo, float hi) {
  return lo + (hi - lo) * bits_to_unit(bits);
}

MP_HD float uniform_element(uint64_t seed, uint64_t offset, uint64_t i, float lo, float hi) {
  return uniform_from_bits(philox_bits(seed, offset, i), lo, hi);
}

MP_HD float normal_element(uint64_t seed, uint64_t offset, uint64_t i, float mean, float stddev) {
  return mean + stddev * philox_normal(seed, offset, i);
}

}  // namespace mp::kernels
