// cuda_attention.cu: CudaBackend's attention ops (kernels/attention.h). The CUDA attention path is
// unfused: the score and value products are strided batched cuBLASLt GEMMs (Backend::
// gemm_batched, the 1/sqrt(d) scale as the score GEMM's alpha), and these kernels do the rest --
// the head permutes (a grid-stride copy through kernels::head_offset, bit-exact) and the fused
// mask + softmax (one warp per row, as cuda_rowwise.cu: each lane runs the kernels/ row reductions
// (row_max, row_sum_exp, row_dot) on its chunk of the visible prefix, the 32 partials combined by
// the warp butterfly in a fixed order, so results are deterministic; they may differ from the
// CPU's by a few ulps, another summation order). A flash-style fused kernel is future work.
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_launch.cuh"
#include "kernels/attention.h"

namespace mp::cuda {

namespace {

// Storage-sized copy of element i of the interleaved layout to/from its per-head place.
template <class U>
__global__ void permute_heads_kernel(U* inter, U* per_head, kernels::HeadDims s, int64_t n,
                                     bool to_heads) {
  MP_GRID_STRIDE(i, n) {
    const int64_t h = kernels::head_offset(s, i);
    if (to_heads) per_head[h] = inter[i];
    else inter[i] = per_head[h];
  }
}

__device__ __forceinline__ int64_t warp_row() {
  return static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
}

template <class T>
__global__ void causal_softmax_fwd_kernel(const T* s, T* p, int64_t rows, int64_t n) {
  const int64_t r = warp_row();
  if (r >= rows) return;
  const int lane = threadIdx.x % kWarp;
  const int64_t vis = kernels::causal_visible(r, n);
  const T* sr = s + r * n;
  const LaneChunk c = lane_chunk(vis, lane);
  const float m = warp_max(kernels::row_max(sr + c.begin, c.len));
  const float inv = 1.0f / warp_sum(kernels::row_sum_exp(sr + c.begin, c.len, m));
  // kernels::causal_softmax_row's values, given the row's max and sum (row_sum_exp sums the same
  // exponentials as its row_sum over the stored ones).
  T* pr = p + r * n;
  for (int64_t j = lane; j < n; j += kWarp)
    pr[j] = from_float<T>(j < vis ? kernels::exp_f32(to_float(sr[j]) - m) * inv : 0.0f);
}

template <class T>
__global__ void causal_softmax_bwd_kernel(const T* p, const T* dp, T* ds, int64_t rows, int64_t n) {
  const int64_t r = warp_row();
  if (r >= rows) return;
  const int lane = threadIdx.x % kWarp;
  const int64_t vis = kernels::causal_visible(r, n);
  const T* pr = p + r * n;
  const T* dpr = dp + r * n;
  const LaneChunk c = lane_chunk(vis, lane);
  const float dot = warp_sum(kernels::row_dot(pr + c.begin, dpr + c.begin, c.len));
  T* dsr = ds + r * n;
  for (int64_t j = lane; j < n; j += kWarp)
    dsr[j] = from_float<T>(j < vis ? to_float(pr[j]) * (to_float(dpr[j]) - dot) : 0.0f);
}

void launch_permute(cudaStream_t st, const Tensor& inter, const Tensor& per_head, int64_t parts,
                    int64_t heads, bool to_heads) {
  const int64_t B = inter.shape()[0], T = inter.shape()[1], W = inter.shape()[2];
  const kernels::HeadDims s{B, T, parts, heads, W / (parts * heads)};
  const int64_t n = inter.numel();
  if (dtype_size(inter.dtype()) == 4) {
    permute_heads_kernel<uint32_t><<<blocks_for(n), kThreads, 0, st>>>(
        ptr<uint32_t>(inter), ptr<uint32_t>(per_head), s, n, to_heads);
  } else {
    permute_heads_kernel<uint16_t><<<blocks_for(n), kThreads, 0, st>>>(
        ptr<uint16_t>(inter), ptr<uint16_t>(per_head), s, n, to_heads);
  }
  MP_CUDA_LAUNCH_CHECK("permute_heads_kernel");
}
}  // namespace

void CudaBackend::split_heads_impl(const Tensor& x, Tensor& out, int64_t parts, int64_t heads) {
  launch_permute(bound_stream(), x, out, parts, heads, true);
}

void CudaBackend::merge_heads_impl(const Tensor& x, Tensor& out, int64_t parts, int64_t heads) {
  launch_permute(bound_stream(), out, x, parts, heads, false);
}

void CudaBackend::causal_softmax_forward_impl(const Tensor& s, Tensor& p) {
  const int64_t rows = s.rows(), n = s.cols();
  dispatch_float(s.dtype(), "causal_softmax_forward", [&](auto tag) {
    using T = decltype(tag);
    causal_softmax_fwd_kernel<T><<<row_blocks(rows), kThreads, 0, bound_stream()>>>(
        ptr<const T>(s), ptr<T>(p), rows, n);
    MP_CUDA_LAUNCH_CHECK("causal_softmax_fwd_kernel");
  });
}

void CudaBackend::causal_softmax_backward_impl(const Tensor& p, const Tensor& dp, Tensor& ds) {
  const int64_t rows = p.rows(), n = p.cols();
  dispatch_float(p.dtype(), "causal_softmax_backward", [&](auto tag) {
    using T = decltype(tag);
    causal_softmax_bwd_kernel<T><<<row_blocks(rows), kThreads, 0, bound_stream()>>>(
        ptr<const T>(p), ptr<const T>(dp), ptr<T>(ds), rows, n);
    MP_CUDA_LAUNCH_CHECK("causal_softmax_bwd_kernel");
  });
}

}  // namespace mp::cuda
