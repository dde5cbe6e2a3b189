// token_index.h: host-side helpers of the embedding ops: the DataError for a bad token id (raised
// by Backend's front door and by Embedding::raise_deferred from a step-stats read, both engines),
// the CPU engine's search for the first bad id, and its positions of each vocab row (a stable
// counting sort) that make the weight gradient deterministic. The CUDA engine builds the same
// start/pos lists on the device (cuda_embedding.cu) and reads no ids back.
// Compiled by nvcc too: C++17.
#pragma once
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "kernels/embedding.h"

namespace mp::token_index {

// Index of the first id that is not an integer in [0, vocab), or -1.
inline int64_t first_bad(const float* ids, int64_t n, int64_t vocab) {
  for (int64_t i = 0; i < n; ++i)
    if (!kernels::token_id_valid(ids[i], vocab)) return i;
  return -1;
}

// The embedding ops' data error for ids[i] (ids of shape [B, T] name the sample and position).
inline DataError bad_token(const Shape& ids_shape, int64_t i, float id, int64_t vocab) {
  std::ostringstream os;
  os << "token id " << id << " at ";
  const int64_t T = ids_shape.size() >= 2 ? ids_shape.back() : 0;
  if (T > 0)
    os << "sample " << i / T << ", position " << i % T << " of the batch";
  else
    os << "element " << i << " of the batch";
  os << " is not an integer in [0, " << vocab << ") (the embedding's vocab); check the data's "
     << "token range against the layer's vocab";
  return DataError(os.str());
}

// Positions grouped by token: the positions of token v are pos[start[v] .. start[v + 1]), in
// ascending order; invalid ids (token_id_valid false) are in no list. Kept by the CPU engine and
// rebuilt in place each call, so a steady-state step allocates nothing (the vectors keep their
// capacity).
struct Index {
  std::vector<int32_t> start;  // [vocab + 1]
  std::vector<int32_t> pos;    // [n]
  std::vector<int32_t> next;   // scratch of build(): each token's next free slot in pos
};

// Fills `ix` for ids by a stable counting sort, skipping invalid ids.
inline void build(const float* ids, int64_t n, int64_t vocab, Index& ix) {
  ix.start.assign(static_cast<size_t>(vocab + 1), 0);
  ix.pos.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    if (kernels::token_id_valid(ids[i], vocab)) ++ix.start[static_cast<size_t>(ids[i]) + 1];
  for (int64_t v = 0; v < vocab; ++v) ix.start[static_cast<size_t>(v + 1)] += ix.start[static_cast<size_t>(v)];
  ix.next.assign(ix.start.begin(), ix.start.end() - 1);
  for (int64_t i = 0; i < n; ++i)
    if (kernels::token_id_valid(ids[i], vocab))
      ix.pos[static_cast<size_t>(ix.next[static_cast<size_t>(ids[i])]++)] = static_cast<int32_t>(i);
}

}  // namespace mp::token_index
