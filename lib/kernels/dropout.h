// dropout.h: the inverted-dropout keep decision and scale. Element i of a tensor is kept when the
// Philox stream (seed, offset) at index i gives a uniform u in (0, 1] with u > p, so the mask is a
// pure function of (seed, offset, i): forward and backward, CPU and GPU, all agree on it.
// Kept elements are multiplied by 1/(1-p); with p = 1 nothing is kept and the scale is 0.
#pragma once
#include <stdint.h>

#include "core/philox.h"

namespace mp::kernels {

// Keep decision from the 32 Philox bits of the element (philox_bits(seed, offset, i)).
MP_HD bool dropout_keep_bits(uint32_t bits, float p) { return bits_to_unit(bits) > p; }

MP_HD bool dropout_keep(uint64_t seed, uint64_t offset, uint64_t i, float p) {
  return dropout_keep_bits(philox_bits(seed, offset, i), p);
}

MP_HD float dropout_scale(float p) { return p < 1.0f ? 1.0f / (1.0f - p) : 0.0f; }

// y = keep ? x * scale : 0 (also the backward: dx = keep ? dy * scale : 0).
MP_HD float dropout_apply(float x, bool keep, float scale) { return keep ? x * scale : 0.0f; }

}  // namespace mp::kernels
