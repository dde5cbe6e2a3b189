// cpu_embedding.cpp: CpuBackend's embedding ops (the deferred hooks: Backend's raising ops read
// `stats` back). Forward copies table rows (weight and out share a dtype: no rounding); a bad id
// gets a zero row. Backward gives each vocab row to one thread (rows in parallel), which sums the
// dy rows of that token's positions (token_index.h: ascending order, bad ids skipped) in fp32 and
// adds the sum to the row of the fp32 gradient once: no two threads write one row, and a row's
// additions happen in the same order whatever the thread count. A bad id is recorded in
// stats[kStatBadToken] (the lowest index): the "device" is host memory, nothing is read back.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_map.h"
#include "backend/token_index.h"
#include "kernels/embedding.h"

namespace mp::cpu {

namespace {

// stats[kStatBadToken] = max(itself, the packed lowest bad id of these ids), as the CUDA kernels'
// atomicMax leaves it.
void record_bad_token(const float* id, int64_t n, int64_t vocab, Tensor& stats) {
  const int64_t i = token_index::first_bad(id, n, vocab);
  if (i < 0) return;
  int32_t bits;
  std::memcpy(&bits, &id[i], sizeof bits);
  int64_t* slot = stats.data<int64_t>() + kStatBadToken;
  *slot = std::max(*slot, pack_bad_label(i, bits));
}

}  // namespace

void CpuBackend::embedding_forward_impl(const Tensor& ids, const Tensor& weight, Tensor& out,
                                        Tensor& stats) {
  const int64_t n = ids.numel(), vocab = weight.dim(0), D = weight.dim(1);
  const float* id = ids.data<float>();
  record_bad_token(id, n, vocab, stats);
  const size_t row_bytes = static_cast<size_t>(D) * dtype_size(weight.dtype());
  const char* w = static_cast<const char*>(weight.raw());
  char* y = static_cast<char*>(out.raw());
  for_each_row(threads_, n, D, [&](int64_t i) {
    char* dst = y + static_cast<size_t>(i) * row_bytes;
    if (kernels::token_id_valid(id[i], vocab))
      std::memcpy(dst, w + static_cast<size_t>(id[i]) * row_bytes, row_bytes);
    else
      std::memset(dst, 0, row_bytes);  // all-zero bits: +0 in every float dtype
  });
}

void CpuBackend::embedding_backward_impl(const Tensor& ids, const Tensor& dy, Tensor& dweight,
                                         Tensor& stats) {
  const int64_t n = ids.numel(), vocab = dweight.dim(0), D = dweight.dim(1);
  const float* id = ids.data<float>();
  record_bad_token(id, n, vocab, stats);
  token_index::Index& ix = embed_index_;
  token_index::build(id, n, vocab, ix);
  size_t stride = 0;
  float* ts = thread_scratch(static_cast<size_t>(2 * D), &stride);
  float* dw = dweight.data<float>();
  for_each_row(threads_, vocab, D, [&](int64_t v) {
    const int32_t b = ix.start[static_cast<size_t>(v)], e = ix.start[static_cast<size_t>(v + 1)];
    if (b == e) return;
    float* acc = ts + stride * static_cast<size_t>(omp_get_thread_num());
    float* buf = acc + D;
    for (int64_t d = 0; d < D; ++d) acc[d] = 0.0f;
    for (int32_t k = b; k < e; ++k)
      kernels::embedding_grad_add_row(f32_in(dy, int64_t{ix.pos[static_cast<size_t>(k)]} * D, D, buf), D, acc);
    float* row = dw + v * D;
    for (int64_t d = 0; d < D; ++d) row[d] += acc[d];
  });
}

}  // namespace mp::cpu
