// cuda_reduce.cu: CudaBackend's reductions, all deterministic (the same bits on every run and
// every GPU): sum and sum_squares (a fixed grid of at most kReduceBlocks blocks, set by the
// element count alone; fp32 per thread for sums, exact fp64 squares summed in fp64 for sums of
// squares (finite for any finite input), fp64 across the block, block partials summed in order on
// the host in fp64), unscale_and_check (kernels/unscale.h: the check is on the unscaled fp32
// value, which with inv_scale > 1 can overflow for a finite input; the flag is an OR, exact),
// magnitude_stats (integer counts and a max: exact in any order; per-block partials), and
// bias_grad (column sums in the CPU's 256-row blocks: fp32 in row order per block, then the
// block partials in order in fp64, with no float atomics) and its column finisher
// (launch_colsum_finish, shared with layernorm's dgamma/dbeta). sum_into is sum with the
// partials added on the device into a step-stats slot, in reduce_sum's host order (no read).
#include <cmath>
#include <type_traits>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_launch.cuh"
#include "kernels/unscale.h"

namespace mp::cuda {

namespace {

constexpr int64_t kReduceBlocks = 512;
constexpr int64_t kBiasRowBlock = 256;  // rows per bias_grad partial, as the CPU backend
constexpr unsigned kMaxGridY = 65535;

unsigned reduce_blocks(int64_t n) {
  int64_t b = (n + kThreads - 1) / kThreads;
  if (b < 1) b = 1;
  return static_cast<unsigned>(b < kReduceBlocks ? b : kReduceBlocks);
}

template <class T, bool kSquares>
__global__ void sum_kernel(const T* x, int64_t n, double* part) {
  __shared__ double smem[kRowsPerBlock];
  using Acc = std::conditional_t<kSquares, double, float>;
  Acc acc = 0;
  MP_GRID_STRIDE(i, n) {
    const float v = to_float(x[i]);
    if constexpr (kSquares)
      acc += kernels::square_f64(v);
    else
      acc += v;
  }
  const double s = block_sum(static_cast<double>(acc), smem);
  if (threadIdx.x == 0) part[blockIdx.x] = s;
}

template <class T>
__global__ void unscale_kernel(T* x, float inv_scale, int64_t n, int* found) {
  int bad = 0;
  MP_GRID_STRIDE(i, n) {
    const float u = kernels::unscale_element(to_float(x[i]), inv_scale);
    bad |= kernels::is_nonfinite(u) ? 1 : 0;
    x[i] = from_float<T>(u);
  }
  if (__syncthreads_or(bad) && threadIdx.x == 0) *found = 1;
}

template <class T>
__global__ void magnitude_kernel(const T* x, float factor, float threshold, int64_t n,
                                 int64_t* count_part, float* max_part) {
  __shared__ int64_t sc[kRowsPerBlock];
  __shared__ float sm[kRowsPerBlock];
  int64_t c = 0;
  float m = 0.0f;
  MP_GRID_STRIDE(i, n) {
    const float v = to_float(x[i]);
    c += kernels::is_small_magnitude(v, factor, threshold) ? 1 : 0;
    const float a = fabsf(v);
    m = a > m ? a : m;  // NaN skipped, as the CPU backend
  }
  c = block_sum(c, sc);
  m = block_max(m, sm, 0.0f);
  if (threadIdx.x == 0) {
    count_part[blockIdx.x] = c;
    max_part[blockIdx.x] = m;
  }
}

// part[blk * N + j] = fp32 sum of dy[r, j] over the block's rows, in row order.
template <class T>
__global__ void bias_grad_partial_kernel(const T* dy, float* part, int64_t M, int64_t N,
                                         int64_t blocks) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= N) return;
  for (int64_t blk = blockIdx.y; blk < blocks; blk += gridDim.y) {
    const int64_t r1 = (blk + 1) * kBiasRowBlock < M ? (blk + 1) * kBiasRowBlock : M;
    float acc = 0.0f;
    for (int64_t r = blk * kBiasRowBlock; r < r1; ++r) acc += to_float(dy[r * N + j]);
    part[blk * N + j] = acc;
  }
}

__global__ void colsum_finish_kernel(const float* part, int64_t blocks, int64_t stride, int64_t n,
                                     float beta, float* out) {
  MP_GRID_STRIDE(j, n) {
    double s = 0.0;
    for (int64_t b = 0; b < blocks; ++b) s += part[b * stride + j];
    out[j] = static_cast<float>(beta != 0.0f ? static_cast<double>(beta) * out[j] + s : s);
  }
}

}  // namespace

void launch_colsum_finish(cudaStream_t stream, const float* part, int64_t blocks, int64_t stride,
                          int64_t n, float beta, float* out) {
  if (n == 0) return;
  colsum_finish_kernel<<<blocks_for(n), kThreads, 0, stream>>>(part, blocks, stride, n, beta, out);
  MP_CUDA_LAUNCH_CHECK("colsum_finish_kernel");
}

namespace {

template <bool kSquares>
double reduce_sum(const Tensor& x, cudaStream_t stream, DeviceScratch& scratch,
                  PinnedBuffer& host) {
  const int64_t n = x.numel();
  if (n == 0) return 0.0;
  const unsigned g = reduce_blocks(n);
  double* part = scratch.get_as<double>(g);
  dispatch_float(x.dtype(), kSquares ? "sum_squares" : "sum", [&](auto tag) {
    using T = decltype(tag);
    sum_kernel<T, kSquares><<<g, kThreads, 0, stream>>>(ptr<const T>(x), n, part);
    MP_CUDA_LAUNCH_CHECK("sum_kernel");
  });
  double* h = host.get_as<double>(g);
  MP_CUDA_CHECK(cudaMemcpyAsync(h, part, g * sizeof(double), cudaMemcpyDeviceToHost, stream));
  MP_CUDA_CHECK(cudaStreamSynchronize(stream));
  double total = 0.0;
  for (unsigned b = 0; b < g; ++b) total += h[b];
  return total;
}

}  // namespace

double CudaBackend::sum_impl(const Tensor& x) {
  return reduce_sum<false>(x, bound_stream(), partials_, host_);
}

double CudaBackend::sum_squares_impl(const Tensor& x) {
  return reduce_sum<true>(x, bound_stream(), partials_, host_);
}

namespace {
// *slot += 0.0 + part[0] + ... + part[g - 1]: reduce_sum's host loop, on the device.
__global__ void add_partials_kernel(const double* part, unsigned g, double* slot) {
  double total = 0.0;
  for (unsigned b = 0; b < g; ++b) total += part[b];
  *slot += total;
}
}  // namespace

void CudaBackend::sum_into_impl(const Tensor& x, Tensor& stats, int64_t slot) {
  cudaStream_t stream = bound_stream();
  const int64_t n = x.numel();
  const unsigned g = n == 0 ? 0u : reduce_blocks(n);  // sum() of nothing: 0.0, no launch
  double* part = partials_.get_as<double>(g > 0 ? g : 1);
  if (g > 0) {
    dispatch_float(x.dtype(), "sum_into", [&](auto tag) {
      using T = decltype(tag);
      sum_kernel<T, false><<<g, kThreads, 0, stream>>>(ptr<const T>(x), n, part);
      MP_CUDA_LAUNCH_CHECK("sum_kernel");
    });
  }
  add_partials_kernel<<<1, 1, 0, stream>>>(part, g,
                                           reinterpret_cast<double*>(ptr<int64_t>(stats) + slot));
  MP_CUDA_LAUNCH_CHECK("add_partials_kernel");
}

bool CudaBackend::unscale_and_check_impl(Tensor& x, float inv_scale) {
  const int64_t n = x.numel();
  if (n == 0) return false;
  int* found = flags_.get_as<int>(1);
  MP_CUDA_CHECK(cudaMemsetAsync(found, 0, sizeof(int), bound_stream()));
  dispatch_float(x.dtype(), "unscale_and_check", [&](auto tag) {
    using T = decltype(tag);
    unscale_kernel<T><<<blocks_for(n), kThreads, 0, bound_stream()>>>(
        ptr<T>(x), inv_scale, n, found);
    MP_CUDA_LAUNCH_CHECK("unscale_kernel");
  });
  int* h = host_.get_as<int>(1);
  MP_CUDA_CHECK(cudaMemcpyAsync(h, found, sizeof(int), cudaMemcpyDeviceToHost, bound_stream()));
  sync();
  return *h != 0;
}

void CudaBackend::magnitude_stats_impl(const Tensor& x, float factor, float threshold,
                                       int64_t& below, float& max_abs) {
  below = 0;
  max_abs = 0.0f;
  const int64_t n = x.numel();
  if (n == 0) return;
  const unsigned g = reduce_blocks(n);
  // [g] int64 counts, then [g] float maxima
  char* part = partials_.get_as<char>(g * (sizeof(int64_t) + sizeof(float)));
  int64_t* counts = reinterpret_cast<int64_t*>(part);
  float* maxima = reinterpret_cast<float*>(part + g * sizeof(int64_t));
  dispatch_float(x.dtype(), "magnitude_stats", [&](auto tag) {
    using T = decltype(tag);
    magnitude_kernel<T>
        <<<g, kThreads, 0, bound_stream()>>>(ptr<const T>(x), factor, threshold, n, counts, maxima);
    MP_CUDA_LAUNCH_CHECK("magnitude_kernel");
  });
  char* h = host_.get_as<char>(g * (sizeof(int64_t) + sizeof(float)));
  MP_CUDA_CHECK(cudaMemcpyAsync(h, part, g * (sizeof(int64_t) + sizeof(float)),
                                cudaMemcpyDeviceToHost, bound_stream()));
  sync();
  const int64_t* hc = reinterpret_cast<const int64_t*>(h);
  const float* hm = reinterpret_cast<const float*>(h + g * sizeof(int64_t));
  for (unsigned b = 0; b < g; ++b) {
    below += hc[b];
    max_abs = hm[b] > max_abs ? hm[b] : max_abs;
  }
}

void CudaBackend::bias_grad_impl(const Tensor& dy, Tensor& db, float beta) {
  const int64_t M = dy.rows(), N = dy.cols();
  if (N == 0) return;
  const int64_t blocks = (M + kBiasRowBlock - 1) / kBiasRowBlock;
  float* part = partials_.get_as<float>(static_cast<size_t>((blocks > 0 ? blocks : 1) * N));
  if (blocks > 0) {
    dispatch_float(dy.dtype(), "bias_grad", [&](auto tag) {
      using T = decltype(tag);
      const dim3 grid(static_cast<unsigned>((N + kThreads - 1) / kThreads),
                      static_cast<unsigned>(blocks < kMaxGridY ? blocks : kMaxGridY));
      bias_grad_partial_kernel<T>
          <<<grid, kThreads, 0, bound_stream()>>>(ptr<const T>(dy), part, M, N, blocks);
      MP_CUDA_LAUNCH_CHECK("bias_grad_partial_kernel");
    });
  }
  launch_colsum_finish(bound_stream(), part, blocks, N, N, beta, ptr<float>(db));
}

}  // namespace mp::cuda
