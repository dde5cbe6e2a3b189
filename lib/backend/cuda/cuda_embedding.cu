// cuda_embedding.cu: CudaBackend's embedding ops (the deferred hooks; Backend's raising ops read
// the stats back). Nothing is read back here and nothing waits for the device: no cudaMemcpy to
// the host, no synchronisation, temporaries in the engine's workspaces, all work queued on the
// engine's stream, so the ops are legal inside CUDA stream capture (issue 12).
// A bad id (not an integer in [0, V)) is recorded in stats[kStatBadToken] (atomicMax of
// pack_bad_label(index, id bits): the lowest index wins); forward writes a zero row for it and
// backward skips it, so no access is ever out of bounds.
// Forward is a gather (one thread per output element; weight and out share a dtype: an exact
// copy). Backward groups positions by token on the device, as token_index::build does on the
// host: key[i] = ids[i] (V for a bad id), a stable radix sort of (key, i) pairs (CUB's
// DeviceRadixSort: positions ascending within a token), then start[v] = the first sorted index
// whose key is >= v (a binary search per row). It then runs one block per vocab row, one thread
// per column, each summing its token's dy rows in ascending position order
// (kernels::embedding_grad_column, the CPU's order): deterministic, no float atomics, and
// bit-equal to the CPU engine.
#include <cub/device/device_radix_sort.cuh>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_launch.cuh"
#include "kernels/embedding.h"

namespace mp::cuda {

namespace {

__device__ __forceinline__ void record_bad_token(long long* bad, int64_t i, float id) {
  atomicMax(bad, static_cast<long long>(pack_bad_label(i, __float_as_int(id))));
}

template <class T>
__global__ void embedding_gather_kernel(const float* ids, const T* w, T* y, int64_t n, int64_t D,
                                        int64_t vocab, long long* bad) {
  MP_GRID_STRIDE(i, n * D) {
    const int64_t r = i / D, d = i % D;
    const float id = ids[r];
    if (kernels::token_id_valid(id, vocab)) {
      y[i] = w[static_cast<int64_t>(id) * D + d];
    } else {
      y[i] = from_float<T>(0.0f);
      if (d == 0) record_bad_token(bad, r, id);
    }
  }
}

// The radix sort's input: key = the token (vocab for a bad id: sorted after every row, read by
// none), value = the position.
__global__ void embedding_keys_kernel(const float* ids, int64_t n, int64_t vocab, uint32_t* keys,
                                      int32_t* vals, long long* bad) {
  MP_GRID_STRIDE(i, n) {
    const float id = ids[i];
    const bool ok = kernels::token_id_valid(id, vocab);
    keys[i] = static_cast<uint32_t>(ok ? static_cast<int64_t>(id) : vocab);
    vals[i] = static_cast<int32_t>(i);
    if (!ok) record_bad_token(bad, i, id);
  }
}

// start[v] for v in [0, vocab]: the number of sorted keys below v (lower bound).
__global__ void embedding_starts_kernel(const uint32_t* sorted, int64_t n, int64_t vocab,
                                        int32_t* start) {
  MP_GRID_STRIDE(v, vocab + 1) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (static_cast<int64_t>(sorted[mid]) < v)
        lo = mid + 1;
      else
        hi = mid;
    }
    start[v] = static_cast<int32_t>(lo);
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

long long* bad_token_slot(const Tensor& stats) {
  return reinterpret_cast<long long*>(ptr<int64_t>(stats) + kStatBadToken);
}

}  // namespace

void CudaBackend::embedding_forward_impl(const Tensor& ids, const Tensor& weight, Tensor& out,
                                         Tensor& stats) {
  const int64_t n = ids.numel(), vocab = weight.dim(0), D = weight.dim(1);
  dispatch_float(weight.dtype(), "embedding_forward", [&](auto tag) {
    using T = decltype(tag);
    embedding_gather_kernel<T><<<blocks_for(n * D), kThreads, 0, bound_stream()>>>(
        ptr<const float>(ids), ptr<const T>(weight), ptr<T>(out), n, D, vocab,
        bad_token_slot(stats));
    MP_CUDA_LAUNCH_CHECK("embedding_gather_kernel");
  });
}

void CudaBackend::embedding_backward_impl(const Tensor& ids, const Tensor& dy, Tensor& dweight,
                                          Tensor& stats) {
  const int64_t n = ids.numel(), vocab = dweight.dim(0), D = dweight.dim(1);
  cudaStream_t stream = bound_stream();
  // Keys need the bits of 0..vocab (vocab: a bad id); fewer bits, fewer radix passes.
  int end_bit = 1;
  while (end_bit < 32 && (int64_t{1} << end_bit) <= vocab) ++end_bit;
  // keys, sorted keys, positions, sorted positions (pos): n each, every list 256-byte aligned
  // (np elements apart); start: vocab + 1.
  const int64_t np = (n + 63) / 64 * 64;
  Tensor lists = workspace(0, Shape{4 * np + vocab + 1}, DType::I32);
  auto* keys = ptr<uint32_t>(lists);
  uint32_t* keys_sorted = keys + np;
  auto* vals = reinterpret_cast<int32_t*>(keys + 2 * np);
  int32_t* pos = vals + np;
  int32_t* start = pos + np;
  size_t temp_bytes = 0;  // the size query launches nothing
  MP_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys, keys_sorted, vals, pos,
                                                static_cast<int>(n), 0, end_bit, stream));
  Tensor temp = workspace(1, Shape{static_cast<int64_t>(temp_bytes / 4 + 1)}, DType::I32);

  embedding_keys_kernel<<<blocks_for(n), kThreads, 0, stream>>>(ptr<const float>(ids), n, vocab,
                                                                keys, vals, bad_token_slot(stats));
  MP_CUDA_LAUNCH_CHECK("embedding_keys_kernel");
  MP_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.raw(), temp_bytes, keys, keys_sorted, vals,
                                                pos, static_cast<int>(n), 0, end_bit, stream));
  embedding_starts_kernel<<<blocks_for(vocab + 1), kThreads, 0, stream>>>(keys_sorted, n, vocab,
                                                                          start);
  MP_CUDA_LAUNCH_CHECK("embedding_starts_kernel");
  dispatch_float(dy.dtype(), "embedding_backward", [&](auto tag) {
    using T = decltype(tag);
    embedding_grad_kernel<T><<<static_cast<unsigned>(vocab), kThreads, 0, stream>>>(
        ptr<const T>(dy), start, pos, ptr<float>(dweight), D);
    MP_CUDA_LAUNCH_CHECK("embedding_grad_kernel");
  });
  // lists/temp live in workspaces 0 and 1 (fixed addresses in a steady state: no allocator call
  // per step, and what a CUDA graph captured stays valid); the next op using them queues after
  // these kernels on the same stream.
}

}  // namespace mp::cuda
