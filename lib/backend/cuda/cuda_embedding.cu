// cuda_embedding.cu: CudaBackend's embedding ops. The token ids (N floats) are copied back to the
// host once per call: there they are checked (token_index::check_ids, the CPU's DataError) and,
// for backward, grouped by token with the CPU's stable counting sort (token_index::build), whose
// start/pos lists go back up. Forward is a gather (one thread per output element; weight and out
// share a dtype: an exact copy). Backward runs one block per vocab row, one thread per column,
// each summing its token's dy rows in ascending position order (kernels::embedding_grad_column,
// the CPU's order): deterministic, no float atomics, and bit-equal to the CPU engine.
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_launch.cuh"
#include "backend/token_index.h"
#include "kernels/embedding.h"

namespace mp::cuda {

namespace {

template <class T>
__global__ void embedding_gather_kernel(const float* ids, const T* w, T* y, int64_t n, int64_t D) {
  MP_GRID_STRIDE(i, n * D) {
    const int64_t r = i / D, d = i % D;
    y[i] = w[static_cast<int64_t>(ids[r]) * D + d];
  }
}

template <class T>
__global__ void embedding_grad_kernel(const T* dy, const int32_t* start, const int32_t* pos,
                                      float* dw, int64_t D) {
  const int64_t v = blockIdx.x;
  const int32_t b = start[v], e = start[v + 1];
  if (b == e) return;
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x)
    dw[v * D + d] += kernels::embedding_grad_column(dy, pos + b, e - b, D, d);
}

}  // namespace

void CudaBackend::embedding_forward_impl(const Tensor& ids, const Tensor& weight, Tensor& out) {
  const int64_t n = ids.numel(), vocab = weight.dim(0), D = weight.dim(1);
  std::vector<float>& host = embed_ids_host_;  // reused: no allocation in a steady-state step
  host.resize(static_cast<size_t>(n));
  download_impl(ids, host.data());
  token_index::check_ids(ids.shape(), host.data(), n, vocab);
  dispatch_float(weight.dtype(), "embedding_forward", [&](auto tag) {
    using T = decltype(tag);
    embedding_gather_kernel<T><<<blocks_for(n * D), kThreads, 0, bound_stream()>>>(
        ptr<const float>(ids), ptr<const T>(weight), ptr<T>(out), n, D);
    MP_CUDA_LAUNCH_CHECK("embedding_gather_kernel");
  });
}

void CudaBackend::embedding_backward_impl(const Tensor& ids, const Tensor& dy, Tensor& dweight) {
  const int64_t n = ids.numel(), vocab = dweight.dim(0), D = dweight.dim(1);
  std::vector<float>& host = embed_ids_host_;
  host.resize(static_cast<size_t>(n));
  download_impl(ids, host.data());
  token_index::check_ids(ids.shape(), host.data(), n, vocab);
  token_index::Index& ix = embed_index_;
  token_index::build(host.data(), n, vocab, ix);
  Tensor start = empty_impl(Shape{vocab + 1}, DType::I32);
  Tensor pos = empty_impl(Shape{n}, DType::I32);
  upload_impl(ix.start.data(), start);
  upload_impl(ix.pos.data(), pos);
  dispatch_float(dy.dtype(), "embedding_backward", [&](auto tag) {
    using T = decltype(tag);
    embedding_grad_kernel<T><<<static_cast<unsigned>(vocab), kThreads, 0, bound_stream()>>>(
        ptr<const T>(dy), ptr<const int32_t>(start), ptr<const int32_t>(pos), ptr<float>(dweight), D);
    MP_CUDA_LAUNCH_CHECK("embedding_grad_kernel");
  });
  // start/pos are freed when this returns; the caching allocator hands their blocks out again
  // only to work queued after this kernel on the same stream.
}

}  // namespace mp::cuda
