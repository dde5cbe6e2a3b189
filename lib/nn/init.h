// init.h: parameter initialisers (kaiming/xavier uniform and normal, normal(std), zeros), drawn
// from Philox(seed, offset) so the same seed gives the same weights on every backend.
#pragma once
#include <string>

#include "backend/backend.h"

namespace mp {

// Fill the fp32 tensor `w` of shape [fan_out, fan_in, ...] with initialiser `kind`.
// `offset` selects an independent Philox stream (one per parameter).
void init_tensor(Backend& be, Tensor& w, const std::string& kind, double std_for_normal,
                 int64_t fan_in, int64_t fan_out, uint64_t seed, uint64_t offset);

}  // namespace mp
