// flat_buffer.cpp: move_into_flat (flat_buffer.h).
#include "train/flat_buffer.h"

#include <algorithm>

#include "core/error.h"

namespace mp {

Tensor move_into_flat(Backend& be, const std::vector<Tensor*>& ts, DType dtype) {
  int64_t total = 0;
  for (const Tensor* t : ts) {
    MP_CHECK(t->defined() && t->dtype() == dtype,
             "move_into_flat: every tensor must be defined and of the buffer's dtype");
    total += t->numel();
  }
  Tensor flat = be.empty({std::max<int64_t>(total, 1)}, dtype);
  int64_t at = 0;
  for (Tensor* t : ts) {
    const int64_t n = t->numel();
    Tensor view = flat.flat_range(at, n).reshape(t->shape());
    if (n > 0) be.copy(*t, view);
    *t = view;
    at += n;
  }
  return flat;
}

}  // namespace mp
