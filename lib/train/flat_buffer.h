// flat_buffer.h: moving a list of tensors into one flat buffer (the data-parallel gradient,
// master and working-copy spaces: grad_allreduce.cpp, zero_optimizer.cpp), so a collective can
// work on a contiguous range of them in place.
#pragma once
#include <vector>

#include "backend/backend.h"

namespace mp {

// Allocates one buffer of `dtype` holding every tensor of `ts` in list order, copies each
// tensor's values into its range, and re-seats *t as a view of that range (same shape). Returns
// the buffer (at least one element). The tensors must already have dtype `dtype`; anything that
// still holds the old tensors keeps the old storage, so callers re-seat every alias themselves.
Tensor move_into_flat(Backend& be, const std::vector<Tensor*>& ts, DType dtype);

}  // namespace mp
