// cpu_embedding.cpp: CpuBackend's embedding ops. Forward copies table rows (weight and out share
// a dtype: no rounding). Backward gives each vocab row to one thread (rows in parallel), which
// sums the dy rows of that token's positions (token_index.h: ascending order) in fp32 and adds the
// sum to the row of the fp32 gradient once: no two threads write one row, and a row's additions
// happen in the same order whatever the thread count.
#include <omp.h>

#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_map.h"
#include "backend/token_index.h"
#include "kernels/embedding.h"

namespace mp::cpu {

void CpuBackend::embedding_forward_impl(const Tensor& ids, const Tensor& weight, Tensor& out) {
  const int64_t n = ids.numel(), vocab = weight.dim(0), D = weight.dim(1);
  const float* id = ids.data<float>();
  token_index::check_ids(ids.shape(), id, n, vocab);
  const size_t row_bytes = static_cast<size_t>(D) * dtype_size(weight.dtype());
  const char* w = static_cast<const char*>(weight.raw());
  char* y = static_cast<char*>(out.raw());
  for_each_row(threads_, n, D, [&](int64_t i) {
    std::memcpy(y + static_cast<size_t>(i) * row_bytes,
                w + static_cast<size_t>(id[i]) * row_bytes, row_bytes);
  });
}

void CpuBackend::embedding_backward_impl(const Tensor& ids, const Tensor& dy, Tensor& dweight) {
  const int64_t n = ids.numel(), vocab = dweight.dim(0), D = dweight.dim(1);
  const float* id = ids.data<float>();
  token_index::check_ids(ids.shape(), id, n, vocab);
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
