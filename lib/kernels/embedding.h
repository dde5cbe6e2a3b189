// embedding.h: the math of the embedding ops, shared by both engines. Device-safe.
//   token_id_valid: a token id (held as fp32 in the model input) is an exact integer in [0, vocab).
//     Every engine tests it per id before touching the table: a bad id is recorded (deferred ops)
//     or raised, never used as an index.
//   embedding_grad_add_row / embedding_grad_column: the weight gradient of one vocab row, the dy
//   rows of its positions summed in fp32 in ascending position order from 0 (the same order on
//   every engine and thread count, so the result is deterministic: no float atomics).
#pragma once
#include <stdint.h>

#include "core/half.h"

namespace mp::kernels {

MP_HD bool token_id_valid(float id, int64_t vocab) {
  // NaN fails both comparisons; the floor test rejects 2.5 and the bounds +-inf.
  return id >= 0.0f && id < static_cast<float>(vocab) && static_cast<float>(static_cast<int64_t>(id)) == id;
}

// acc[d] += dy_row[d] for d < D (one position of a vocab row, CPU order: position-major).
template <class T>
MP_HD void embedding_grad_add_row(const T* dy_row, int64_t D, float* acc) {
  for (int64_t d = 0; d < D; ++d) acc[d] += to_float(dy_row[d]);
}

// Column d of a vocab row: the sum of dy[pos[k] * D + d] over k < n, in k order (GPU order:
// one thread per column; each column's additions are those of embedding_grad_add_row).
template <class T>
MP_HD float embedding_grad_column(const T* dy, const int32_t* pos, int64_t n, int64_t D, int64_t d) {
  float acc = 0.0f;
  for (int64_t k = 0; k < n; ++k) acc += to_float(dy[static_cast<int64_t>(pos[k]) * D + d]);
  return acc;
}

}  // namespace mp::kernels
