// cuda_rowwise.cu: CudaBackend's row-wise ops: layernorm forward/backward (kernels/layernorm.h),
// the residual add fused with layernorm forward, fused softmax cross-entropy
// (kernels/softmax_xent.h), mse (kernels/mse.h) and argmax (kernels/row_reduce.h).
// Rows of up to kLongRow elements run one warp per row (kRowsPerBlock rows per block): each lane
// runs the kernels/ row function (row_sum, row_sum_exp, layernorm_bwd_sums, mse_row, row_max,
// row_argmax) on its contiguous chunk of the row (lane_chunk), and the 32 partials are combined by
// the warp butterfly in a fixed order. Longer rows (a 50k vocabulary, a 768..4096 layernorm, a
// long mse or argmax row) get a block of kThreads each: thread t takes elements t, t + kThreads,
// ... (coalesced), keeps an fp32 partial of its own, and the partials meet in block_sum's fixed
// tree; softmax cross-entropy reads the row once for its (max, sum of exp) with the online
// kernels::lse_push / lse_merge, and layernorm keeps the row in shared memory (fp32) between its
// passes when it fits. Every order is fixed by the shape, so results are deterministic; sums may
// differ from the CPU's by a few ulps (another order). Elementwise outputs are written over the
// kernels/ element functions. Loads are 16 bytes wide where the row allows it
// (cuda_row_vec.cuh): a lane's chunk sums (row_lanes: kernels/row_reduce.h's lanes and order,
// element for element; mse's too), every elementwise pass (row_map: 8 elements per thread, scalar for an
// unaligned row and the tail), and the cached layernorm's pass 1 (staged into shared memory, then
// summed strided in the uncached order); the strided block sums stay scalar, since vectorising
// them would change whose partial an element joins. LayerNorm's dgamma/dbeta use the CPU's row blocks (at most 64, fixed
// by the shape) with per-block fp32 partials per column, combined in block order in fp64: no float
// atomics. A softmax_xent label outside [0, C) (and not ignore_index) is recorded on the device
// (first bad row, atomicMin) and raised after the kernel as the CPU's DataError;
// softmax_xent_deferred records it in the step stats instead (pack_bad_label, atomicMax: the
// lowest row wins) and reads nothing back.
#include <cmath>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_launch.cuh"
#include "backend/cuda/cuda_row_vec.cuh"
#include "backend/op_checks.h"
#include "kernels/layernorm.h"
#include "kernels/mse.h"
#include "kernels/row_reduce.h"
#include "kernels/softmax_xent.h"

namespace mp::cuda {

namespace {

// Row of the calling warp; the whole warp returns together when it is past the last row.
__device__ __forceinline__ int64_t warp_row() {
  return static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
}

// Rows longer than this get a block each (kThreads threads) instead of a warp.
constexpr int64_t kLongRow = 1024;
// A block-per-row layernorm keeps its row in shared memory (fp32) up to this many elements
// (44 KiB: under the 48 KiB a kernel gets without opting in); longer rows re-read global memory.
constexpr int64_t kMaxCachedRow = 11264;

// The (max, sum of exp) pairs of a block merged in a fixed order (kernels::lse_merge is symmetric,
// so the butterfly leaves every lane the same value); every thread gets the row's pair.
__device__ kernels::MaxSumExp warp_lse(kernels::MaxSumExp v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) {
    const kernels::MaxSumExp w{__shfl_xor_sync(0xffffffffu, v.m, o),
                               __shfl_xor_sync(0xffffffffu, v.s, o)};
    v = kernels::lse_merge(v, w);
  }
  return v;
}

__device__ kernels::MaxSumExp block_lse(kernels::MaxSumExp v, float* sm, float* ss) {
  const int lane = threadIdx.x % kWarp, wid = threadIdx.x / kWarp;
  v = warp_lse(v);
  __syncthreads();
  if (lane == 0) {
    sm[wid] = v.m;
    ss[wid] = v.s;
  }
  __syncthreads();
  const kernels::MaxSumExp t =
      lane < kRowsPerBlock ? kernels::MaxSumExp{sm[lane], ss[lane]} : kernels::MaxSumExp{-INFINITY, 0.0f};
  return warp_lse(t);
}

// With kAdd, the row is first a + b rounded to T, written to sum_out (lane-strided), then
// normalised as read back from sum_out; without, a is the row (b and sum_out unused).
template <class T, class G, bool kAdd>
__global__ void layernorm_fwd_kernel(const T* a, const T* b, T* sum_out, const G* gamma,
                                     const G* beta, float eps, T* y, float* mean, float* rstd,
                                     int64_t rows, int64_t n) {
  const int64_t r = warp_row();
  if (r >= rows) return;
  const int lane = threadIdx.x % kWarp;
  const T* xr = a + r * n;
  if (kAdd) {
    T* sr = sum_out + r * n;
    row_map(sr, xr, b + r * n, static_cast<const T*>(nullptr), n, lane, kWarp,
            [](int64_t, float u, float v, float) { return u + v; });
    __syncwarp();  // the chunks below read other lanes' sums
    xr = sr;
  }
  const LaneChunk c = lane_chunk(n, lane);
  // The statistics of kernels::layernorm_row_stats (two passes: mean, then the centred variance),
  // with each sum split over the lanes (each lane's chunk in kernels::row_sum's order).
  const float inv_n = 1.0f / static_cast<float>(n);
  const float mu = warp_sum(chunk_sum(xr + c.begin, c.len)) * inv_n;
  const float var = warp_sum(chunk_centered_sum_sq(xr + c.begin, c.len, mu)) * inv_n;
  const kernels::RowStats s{mu, 1.0f / sqrtf(var + eps)};
  row_map(y + r * n, xr, gamma, beta, n, lane, kWarp, [s](int64_t, float x, float g, float bt) {
    return kernels::layernorm_apply(x, s, g, bt);
  });
  if (lane == 0) {
    mean[r] = s.mean;
    rstd[r] = s.rstd;
  }
}

// One block per row (long rows). The sums are per-thread fp32 partials over elements t,
// t + kThreads, ... (in that order) met in block_sum's tree. With kCache the row's fp32 values
// stay in shared memory (n floats, dynamic) between the passes: pass 1 fills it (and sum_out)
// with row_map/row_each's 16-byte loads, then each thread sums its strided elements from it, the
// order of the uncached kernel. Without it, pass 1 reads the row strided (the sum order fixes the
// layout) and only the output pass is vectorised. kAdd as in layernorm_fwd_kernel.
template <class T, class G, bool kAdd, bool kCache>
__global__ void layernorm_fwd_block_kernel(const T* a, const T* b, T* sum_out, const G* gamma,
                                           const G* beta, float eps, T* y, float* mean,
                                           float* rstd, int64_t n) {
  extern __shared__ __align__(16) float row[];
  __shared__ float red[kRowsPerBlock];
  const int64_t r = blockIdx.x;
  const int t = threadIdx.x;
  const T* xr = a + r * n;
  T* sr = kAdd ? sum_out + r * n : nullptr;
  // Pass 1: load (and add, round, store the sum), keep, and sum the row.
  float part = 0.0f;
  if constexpr (kCache) {
    if constexpr (kAdd)
      row_map(sr, xr, b + r * n, static_cast<const T*>(nullptr), n, t, kThreads,
              [&](int64_t j, float u, float v, float) {
                const float sum = load_f32(store_as<T>(u + v));  // the sum as stored
                row[j] = sum;
                return sum;
              });
    else
      row_each(xr, n, t, kThreads, [&](int64_t j, float v) { row[j] = v; });
    __syncthreads();
    for (int64_t j = t; j < n; j += kThreads) part += row[j];
  } else {
    for (int64_t j = t; j < n; j += kThreads) {
      float v;
      if (kAdd) {
        const T sum = from_float<T>(to_float(xr[j]) + to_float(b[r * n + j]));
        sr[j] = sum;
        v = to_float(sum);
      } else {
        v = to_float(xr[j]);
      }
      part += v;
    }
  }
  const T* src = kAdd ? sr : xr;  // the row as stored, for the passes without the shared copy
  const float inv_n = 1.0f / static_cast<float>(n);
  const float mu = block_sum(part, red) * inv_n;
  // Pass 2: the centred variance (kernels::layernorm_row_stats' second pass).
  part = 0.0f;
  for (int64_t j = t; j < n; j += kThreads) {
    const float d = (kCache ? row[j] : to_float(src[j])) - mu;
    part += d * d;
  }
  const float var = block_sum(part, red) * inv_n;
  const kernels::RowStats s{mu, 1.0f / sqrtf(var + eps)};
  // Pass 3: the output (elementwise; after block_sum's barriers every sum_out element is
  // visible to every thread).
  auto apply = [s](int64_t, float x, float g, float bt) { return kernels::layernorm_apply(x, s, g, bt); };
  if constexpr (kCache)
    row_map(y + r * n, static_cast<const float*>(row), gamma, beta, n, t, kThreads, apply);
  else
    row_map(y + r * n, src, gamma, beta, n, t, kThreads, apply);
  if (t == 0) {
    mean[r] = s.mean;
    rstd[r] = s.rstd;
  }
}

// Launches the warp or block kernel for rows of n elements (see layernorm_fwd_kernel).
template <class T, class G, bool kAdd>
void launch_layernorm_fwd(cudaStream_t stream, const T* a, const T* b, T* sum_out, const G* gamma,
                          const G* beta, float eps, T* y, float* mean, float* rstd, int64_t rows,
                          int64_t n) {
  if (n <= kLongRow) {
    layernorm_fwd_kernel<T, G, kAdd><<<row_blocks(rows), kThreads, 0, stream>>>(
        a, b, sum_out, gamma, beta, eps, y, mean, rstd, rows, n);
    MP_CUDA_LAUNCH_CHECK("layernorm_fwd_kernel");
  } else if (n <= kMaxCachedRow) {
    layernorm_fwd_block_kernel<T, G, kAdd, true>
        <<<static_cast<unsigned>(rows), kThreads, static_cast<size_t>(n) * sizeof(float), stream>>>(
            a, b, sum_out, gamma, beta, eps, y, mean, rstd, n);
    MP_CUDA_LAUNCH_CHECK("layernorm_fwd_block_kernel");
  } else {
    layernorm_fwd_block_kernel<T, G, kAdd, false><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
        a, b, sum_out, gamma, beta, eps, y, mean, rstd, n);
    MP_CUDA_LAUNCH_CHECK("layernorm_fwd_block_kernel");
  }
}

// kernels::layernorm_bwd_sums over a chunk, with row_lanes' loads (the same lanes and order).
template <class T>
__device__ kernels::LayerNormBwdSums chunk_layernorm_bwd_sums(const T* dy, const T* x,
                                                              const T* gamma, kernels::RowStats s,
                                                              int64_t n) {
  float a[kernels::kRowLanes] = {}, b[kernels::kRowLanes] = {};
  row_lanes(dy, x, gamma, n, [&](int l, float d, float xv, float gm) {
    const float g = d * gm;
    a[l] += g;
    b[l] += g * ((xv - s.mean) * s.rstd);
  });
  return {kernels::combine_lanes(a), kernels::combine_lanes(b)};
}

// dx[j] from (dy[j], x[j], gamma[j]) and the row's sums: kernels::layernorm_dx.
struct LayerNormDx {
  kernels::RowStats s;
  float mean_g, mean_gx;
  __device__ float operator()(int64_t, float d, float x, float g) const {
    return kernels::layernorm_dx(d, x, g, s, mean_g, mean_gx);
  }
};

template <class T>
__global__ void layernorm_bwd_dx_kernel(const T* dy, const T* x, const T* gamma, const float* mean,
                                        const float* rstd, T* dx, int64_t rows, int64_t n) {
  const int64_t r = warp_row();
  if (r >= rows) return;
  const int lane = threadIdx.x % kWarp;
  const T* dyr = dy + r * n;
  const T* xr = x + r * n;
  const kernels::RowStats s{mean[r], rstd[r]};
  const LaneChunk c = lane_chunk(n, lane);
  const kernels::LayerNormBwdSums p = chunk_layernorm_bwd_sums(dyr + c.begin, xr + c.begin,
                                                               gamma + c.begin, s, c.len);
  // As kernels::layernorm_row_backward: the row sums divided by n.
  const float inv_n = 1.0f / static_cast<float>(n);
  const float mean_g = warp_sum(p.g) * inv_n, mean_gx = warp_sum(p.gx) * inv_n;
  row_map(dx + r * n, dyr, xr, gamma, n, lane, kWarp, LayerNormDx{s, mean_g, mean_gx});
}

// layernorm_bwd_dx_kernel with one block per row (long rows), thread-strided: the sums of
// kernels::layernorm_bwd_sums (g = dy * gamma, g * xhat) as per-thread partials in block_sum's
// tree, then kernels::layernorm_dx.
template <class T>
__global__ void layernorm_bwd_dx_block_kernel(const T* dy, const T* x, const T* gamma,
                                              const float* mean, const float* rstd, T* dx,
                                              int64_t n) {
  __shared__ float red[kRowsPerBlock];
  const int64_t r = blockIdx.x;
  const int t = threadIdx.x;
  const T* dyr = dy + r * n;
  const T* xr = x + r * n;
  const kernels::RowStats s{mean[r], rstd[r]};
  float pg = 0.0f, pgx = 0.0f;
  for (int64_t j = t; j < n; j += kThreads) {
    const float g = to_float(dyr[j]) * to_float(gamma[j]);
    pg += g;
    pgx += g * ((to_float(xr[j]) - s.mean) * s.rstd);
  }
  const float inv_n = 1.0f / static_cast<float>(n);
  const float mean_g = block_sum(pg, red) * inv_n;
  const float mean_gx = block_sum(pgx, red) * inv_n;
  // dx may alias dy: every read of the sums is behind block_sum's barriers, and row_map reads
  // each element before the same thread writes it.
  row_map(dx + r * n, dyr, xr, gamma, n, t, kThreads, LayerNormDx{s, mean_g, mean_gx});
}

// part[blk][0][j] = sum over the block's rows of dy * xhat, part[blk][1][j] = sum of dy (fp32, in
// row order), the accumulation of kernels::layernorm_row_backward. grid: (column tiles, blocks).
template <class T>
__global__ void layernorm_dgb_partial_kernel(const T* dy, const T* x, const float* mean,
                                             const float* rstd, float* part, int64_t rows,
                                             int64_t n, int64_t per_block) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= n) return;
  const int64_t blk = blockIdx.y;
  const int64_t r1 = (blk + 1) * per_block < rows ? (blk + 1) * per_block : rows;
  float g = 0.0f, b = 0.0f;
  for (int64_t r = blk * per_block; r < r1; ++r) {
    const float d = to_float(dy[r * n + j]);
    g += d * ((to_float(x[r * n + j]) - mean[r]) * rstd[r]);
    b += d;
  }
  part[blk * 2 * n + j] = g;
  part[blk * 2 * n + n + j] = b;
}

// The rest of kernels::softmax_xent_row, given the row's max m and sum s: the loss into *loss
// (when given) and the gradient's elements first, first + step, ... (when dr is).
template <class T>
__device__ void xent_finish(const T* xr, T* dr, int64_t C, int32_t label, float m, float s,
                            float grad_scale, int64_t first, int64_t step, float* loss) {
  if (loss) *loss = logf(s) + (m - to_float(xr[label]));
  if (!dr) return;
  const float inv_s = 1.0f / s;
  row_map(dr, xr, static_cast<const T*>(nullptr), static_cast<const T*>(nullptr), C,
          static_cast<int>(first), static_cast<int>(step), [=](int64_t j, float x, float, float) {
            const float p = kernels::exp_f32(x - m) * inv_s;
            return grad_scale * (j == label ? p - 1.0f : p);
          });
}

template <class T>
__global__ void softmax_xent_kernel(const T* x, const int32_t* labels, int32_t ignore_index,
                                    float grad_scale, float* losses, T* d, int64_t rows, int64_t C,
                                    long long* bad_row, long long* bad_key) {
  const int64_t r = warp_row();
  if (r >= rows) return;
  const int lane = threadIdx.x % kWarp;
  const int32_t label = labels[r];
  const T* xr = x + r * C;
  T* dr = d ? d + r * C : nullptr;
  if (label == ignore_index || label < 0 || label >= C) {
    if (!kernels::xent_label_valid(label, C, ignore_index) && lane == 0) {
      if (bad_key)
        atomicMax(bad_key, static_cast<long long>(pack_bad_label(r, label)));
      else
        atomicMin(bad_row, static_cast<long long>(r));
    }
    // kernels::softmax_xent_row's value for such a row (0 ignored, NaN invalid), zero gradient.
    if (lane == 0)
      losses[r] = kernels::softmax_xent_row(xr, C, label, ignore_index, grad_scale,
                                            static_cast<T*>(nullptr));
    if (dr)
      for (int64_t j = lane; j < C; j += kWarp) dr[j] = from_float<T>(0.0f);
    return;
  }
  const LaneChunk c = lane_chunk(C, lane);
  const float m = warp_max(chunk_max(xr + c.begin, c.len));
  const float s = warp_sum(chunk_sum_exp(xr + c.begin, c.len, m));
  xent_finish(xr, dr, C, label, m, s, grad_scale, lane, kWarp, lane == 0 ? losses + r : nullptr);
}

// softmax_xent_kernel with one block per row (a long vocabulary): one read of the row for its
// (max, sum of exp) (kernels::lse_push per thread, lse_merge over the block), a second to write
// the gradient. A row whose max is infinite recomputes the sum as row_sum_exp does (the CPU's NaN).
template <class T>
__global__ void softmax_xent_block_kernel(const T* x, const int32_t* labels, int32_t ignore_index,
                                          float grad_scale, float* losses, T* d, int64_t C,
                                          long long* bad_row, long long* bad_key) {
  __shared__ float red_m[kRowsPerBlock], red_s[kRowsPerBlock];
  const int64_t r = blockIdx.x;
  const int t = threadIdx.x;
  const int32_t label = labels[r];
  const T* xr = x + r * C;
  T* dr = d ? d + r * C : nullptr;
  if (label == ignore_index || label < 0 || label >= C) {  // the whole block returns here
    if (t == 0) {
      if (!kernels::xent_label_valid(label, C, ignore_index)) {
        if (bad_key)
          atomicMax(bad_key, static_cast<long long>(pack_bad_label(r, label)));
        else
          atomicMin(bad_row, static_cast<long long>(r));
      }
      losses[r] = label == ignore_index ? 0.0f : NAN;  // kernels::softmax_xent_row's value
    }
    if (dr)
      for (int64_t j = t; j < C; j += kThreads) dr[j] = from_float<T>(0.0f);
    return;
  }
  kernels::MaxSumExp p{-INFINITY, 0.0f};
  for (int64_t j = t; j < C; j += kThreads) p = kernels::lse_push(p, to_float(xr[j]));
  p = block_lse(p, red_m, red_s);
  const float m = p.m;
  float s = p.s;
  if (!(fabsf(m) < INFINITY)) {  // uniform over the block: every thread has the same m
    float part = 0.0f;
    for (int64_t j = t; j < C; j += kThreads) part += kernels::exp_f32(to_float(xr[j]) - m);
    s = block_sum(part, red_s);
  }
  xent_finish(xr, dr, C, label, m, s, grad_scale, t, kThreads, t == 0 ? losses + r : nullptr);
}

template <class T>
__global__ void mse_kernel(const T* pred, const T* target, float grad_scale, float* losses, T* d,
                           int64_t rows, int64_t n) {
  const int64_t r = warp_row();
  if (r >= rows) return;
  const int lane = threadIdx.x % kWarp;
  const LaneChunk c = lane_chunk(n, lane);
  const int64_t o = r * n + c.begin;
  // kernels::mse_row's sum over the lane's chunk (its lanes and order, row_lanes' loads) ...
  float acc[kernels::kRowLanes] = {};
  row_lanes(pred + o, target + o, static_cast<const T*>(nullptr), c.len,
            [&](int l, float p, float t, float) {
              const float e = p - t;
              acc[l] += e * e;
            });
  const float loss = warp_sum(kernels::combine_lanes(acc));
  if (lane == 0) losses[r] = loss;
  // ... and its gradient, after every lane's reads (warp_sum): d may alias pred.
  if (!d) return;
  const float k = 2.0f * grad_scale;
  row_map(d + r * n, pred + r * n, target + r * n, static_cast<const T*>(nullptr), n, lane, kWarp,
          [k](int64_t, float p, float t, float) { return k * (p - t); });
}

// mse_kernel with one block per row (long rows): thread t's fp32 partial of squared errors over
// elements t, t + kThreads, ... (kernels::mse_row's element math), met in block_sum's fixed tree;
// the gradient written as each element is read (d may alias pred: same thread, read first).
template <class T>
__global__ void mse_block_kernel(const T* pred, const T* target, float grad_scale, float* losses,
                                 T* d, int64_t n) {
  __shared__ float red[kRowsPerBlock];
  const int64_t r = blockIdx.x;
  const int t = threadIdx.x;
  const T* pr = pred + r * n;
  const T* tr = target + r * n;
  T* dr = d ? d + r * n : nullptr;
  const float k = 2.0f * grad_scale;
  float part = 0.0f;
  for (int64_t j = t; j < n; j += kThreads) {
    const float e = to_float(pr[j]) - to_float(tr[j]);
    part += e * e;
    if (dr) dr[j] = from_float<T>(k * e);
  }
  const float loss = block_sum(part, red);
  if (t == 0) losses[r] = loss;
}

// (max, first index of it) pairs combined by the warp butterfly: the larger max, then the smaller
// index, a total order, so every lane ends with the same pair whatever the order. A part with no
// candidate (empty, all NaN or -inf) carries {-inf, its first index or kNoIndex}.
constexpr long long kNoIndex = 0x7fffffffffffffffLL;
__device__ __forceinline__ void warp_argmax(float& m, long long& idx) {
  for (int o = kWarp / 2; o > 0; o >>= 1) {
    const float mo = __shfl_xor_sync(0xffffffffu, m, o);
    const long long io = __shfl_xor_sync(0xffffffffu, idx, o);
    if (mo > m || (mo == m && io < idx)) {
      m = mo;
      idx = io;
    }
  }
}

// First index of the largest element (NaNs skipped; 0 when there is none), as row_argmax: each
// lane's chunk gives (max, first index of it) in one scan (chunk_argmax: row_max's and
// row_argmax's answers), then warp_argmax.
template <class T>
__global__ void argmax_kernel(const T* x, int32_t* out, int64_t rows, int64_t n) {
  const int64_t r = warp_row();
  if (r >= rows) return;
  const int lane = threadIdx.x % kWarp;
  const T* xr = x + r * n;
  const LaneChunk c = lane_chunk(n, lane);
  const ArgMax a = chunk_argmax(xr + c.begin, c.len);
  float m = a.m;
  long long idx = c.begin + a.i;
  warp_argmax(m, idx);
  if (lane == 0) out[r] = m > -INFINITY ? static_cast<int32_t>(idx) : 0;
}

// argmax_kernel with one block per row (long rows): thread t scans elements t, t + kThreads, ...
// in increasing order (its first max), then warp_argmax within each warp and across the warps'
// pairs: the same total order, so the row's first largest element.
template <class T>
__global__ void argmax_block_kernel(const T* x, int32_t* out, int64_t n) {
  __shared__ float sm[kRowsPerBlock];
  __shared__ long long si[kRowsPerBlock];
  const int64_t r = blockIdx.x;
  const int t = threadIdx.x, lane = t % kWarp, wid = t / kWarp;
  const T* xr = x + r * n;
  float m = -INFINITY;
  long long idx = kNoIndex;
  for (int64_t j = t; j < n; j += kThreads) {
    const float v = to_float(xr[j]);
    if (v > m) {
      m = v;
      idx = j;
    }
  }
  warp_argmax(m, idx);
  if (lane == 0) {
    sm[wid] = m;
    si[wid] = idx;
  }
  __syncthreads();
  if (wid != 0) return;
  m = lane < kRowsPerBlock ? sm[lane] : -INFINITY;
  idx = lane < kRowsPerBlock ? si[lane] : kNoIndex;
  warp_argmax(m, idx);
  if (lane == 0) out[r] = m > -INFINITY ? static_cast<int32_t>(idx) : 0;
}

}  // namespace

void CudaBackend::layernorm_forward_impl(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                         float eps, Tensor& y, Tensor& mean, Tensor& rstd) {
  const char* op = "layernorm_forward";
  const int64_t rows = x.rows(), cols = x.cols();
  if (!same_dtype({&x, &gamma, &beta, &y})) {
    const Tensor x32 = f32_copy(x, 0), g32 = f32_copy(gamma, 1), b32 = f32_copy(beta, 2);
    Tensor y32 = y.dtype() == DType::F32 ? y : workspace(3, y.shape(), DType::F32);
    layernorm_forward(x32, g32, b32, eps, y32, mean, rstd);
    if (y32.raw() != y.raw()) cast(y32, y);
    return;
  }
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    launch_layernorm_fwd<T, T, false>(bound_stream(), ptr<const T>(x), nullptr, nullptr,
                                      ptr<const T>(gamma), ptr<const T>(beta), eps, ptr<T>(y),
                                      ptr<float>(mean), ptr<float>(rstd), rows, cols);
  });
}

void CudaBackend::add_layernorm_forward_impl(const Tensor& a, const Tensor& b, const Tensor& gamma,
                                             const Tensor& beta, float eps, Tensor& sum_out,
                                             Tensor& y, Tensor& mean, Tensor& rstd) {
  const char* op = "add_layernorm_forward";
  const int64_t rows = a.rows(), cols = a.cols();
  // a, b, sum_out and y share a dtype (checked); gamma and beta are read as that dtype, or
  // through exact fp32 copies when they are of another.
  const bool g_same = same_dtype({&a, &gamma, &beta});
  const Tensor g32 = g_same ? Tensor() : f32_copy(gamma, 0),
               b32 = g_same ? Tensor() : f32_copy(beta, 1);
  dispatch_float(a.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    if (g_same)
      launch_layernorm_fwd<T, T, true>(bound_stream(), ptr<const T>(a), ptr<const T>(b),
                                       ptr<T>(sum_out), ptr<const T>(gamma), ptr<const T>(beta),
                                       eps, ptr<T>(y), ptr<float>(mean), ptr<float>(rstd), rows,
                                       cols);
    else
      launch_layernorm_fwd<T, float, true>(bound_stream(), ptr<const T>(a), ptr<const T>(b),
                                           ptr<T>(sum_out), ptr<const float>(g32),
                                           ptr<const float>(b32), eps, ptr<T>(y),
                                           ptr<float>(mean), ptr<float>(rstd), rows, cols);
  });
}

void CudaBackend::layernorm_backward_impl(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                          const Tensor& mean, const Tensor& rstd, Tensor& dx,
                                          Tensor& dgamma, Tensor& dbeta) {
  const char* op = "layernorm_backward";
  const int64_t rows = x.rows(), cols = x.cols();
  if (!same_dtype({&dy, &x, &gamma, &dx})) {
    const Tensor dy32 = f32_copy(dy, 0), x32 = f32_copy(x, 1), g32 = f32_copy(gamma, 2);
    Tensor dx32 = dx.dtype() == DType::F32 ? dx : workspace(3, dx.shape(), DType::F32);
    layernorm_backward(dy32, x32, g32, mean, rstd, dx32, dgamma, dbeta);
    if (dx32.raw() != dx.raw()) cast(dx32, dx);
    return;
  }
  // Rows split into at most 64 blocks, fixed by the shape alone (the CPU backend's split).
  constexpr int64_t kMaxRowBlocks = 64;
  const int64_t per_block = (rows + kMaxRowBlocks - 1) / kMaxRowBlocks;
  const int64_t blocks = (rows + per_block - 1) / per_block;
  // Without dgamma and dbeta (frozen or non-affine) the partials are not computed at all.
  const bool param_grads = dgamma.defined() || dbeta.defined();
  float* part = param_grads ? partials_.get_as<float>(static_cast<size_t>(2 * cols * blocks)) : nullptr;
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    // dgamma/dbeta partials first: dx may alias dy.
    const dim3 grid(static_cast<unsigned>((cols + kThreads - 1) / kThreads),
                    static_cast<unsigned>(blocks));
    if (param_grads) {
      layernorm_dgb_partial_kernel<T>
          <<<grid, kThreads, 0, bound_stream()>>>(
              ptr<const T>(dy), ptr<const T>(x), ptr<const float>(mean),
                                           ptr<const float>(rstd), part, rows, cols, per_block);
      MP_CUDA_LAUNCH_CHECK("layernorm_dgb_partial_kernel");
    }
    if (cols <= kLongRow) {
      layernorm_bwd_dx_kernel<T><<<row_blocks(rows), kThreads, 0, bound_stream()>>>(
          ptr<const T>(dy), ptr<const T>(x), ptr<const T>(gamma), ptr<const float>(mean),
          ptr<const float>(rstd), ptr<T>(dx), rows, cols);
      MP_CUDA_LAUNCH_CHECK("layernorm_bwd_dx_kernel");
    } else {
      layernorm_bwd_dx_block_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, bound_stream()>>>(
          ptr<const T>(dy), ptr<const T>(x), ptr<const T>(gamma), ptr<const float>(mean),
          ptr<const float>(rstd), ptr<T>(dx), cols);
      MP_CUDA_LAUNCH_CHECK("layernorm_bwd_dx_block_kernel");
    }
  });
  // dgamma[j] += sum of block partials, dbeta likewise (fp64, block order).
  if (dgamma.defined())
    launch_colsum_finish(bound_stream(), part, blocks, 2 * cols, cols, 1.0f, ptr<float>(dgamma));
  if (dbeta.defined())
    launch_colsum_finish(bound_stream(), part + cols, blocks, 2 * cols, cols, 1.0f,
        ptr<float>(dbeta));
}

namespace {

// The softmax cross-entropy launch of both forms: one warp per row up to kLongRow classes, one
// block per row above. A bad label goes to bad_row (atomicMin, softmax_xent) or, when bad_key is
// given, into the step stats (atomicMax of pack_bad_label, softmax_xent_deferred).
void launch_softmax_xent(const Tensor& logits, const Tensor& labels, int32_t ignore_index,
                         float grad_scale, Tensor& losses, Tensor* dlogits, long long* bad_row,
                         long long* bad_key, cudaStream_t stream, const char* op) {
  const int64_t rows = logits.rows(), C = logits.cols();
  dispatch_float(logits.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    if (C <= kLongRow) {
      softmax_xent_kernel<T><<<row_blocks(rows), kThreads, 0, stream>>>(
          ptr<const T>(logits), ptr<const int32_t>(labels), ignore_index, grad_scale,
          ptr<float>(losses), dlogits ? ptr<T>(*dlogits) : nullptr, rows, C, bad_row, bad_key);
      MP_CUDA_LAUNCH_CHECK("softmax_xent_kernel");
    } else {
      softmax_xent_block_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
          ptr<const T>(logits), ptr<const int32_t>(labels), ignore_index, grad_scale,
          ptr<float>(losses), dlogits ? ptr<T>(*dlogits) : nullptr, C, bad_row, bad_key);
      MP_CUDA_LAUNCH_CHECK("softmax_xent_block_kernel");
    }
  });
}

}  // namespace

void CudaBackend::softmax_xent_impl(const Tensor& logits, const Tensor& labels,
                                    int32_t ignore_index, float grad_scale, Tensor& losses,
                                    Tensor* dlogits) {
  const char* op = "softmax_xent";
  const int64_t rows = logits.rows(), C = logits.cols();
  if (dlogits && !same_dtype({&logits, dlogits})) {
    const Tensor x32 = f32_copy(logits, 0);
    Tensor d32 = dlogits->dtype() == DType::F32 ? *dlogits
                                                : workspace(1, dlogits->shape(), DType::F32);
    softmax_xent(x32, labels, ignore_index, grad_scale, losses, &d32);
    if (d32.raw() != dlogits->raw()) cast(d32, *dlogits);
    return;
  }
  long long* bad = flags_.get_as<long long>(1);
  MP_CUDA_CHECK(cudaMemsetAsync(bad, 0x7f, sizeof(long long),
      bound_stream()));  // 0x7f7f...: "none"
  launch_softmax_xent(logits, labels, ignore_index, grad_scale, losses, dlogits, bad, nullptr,
                      bound_stream(), op);
  long long* h = host_.get_as<long long>(1);
  MP_CUDA_CHECK(cudaMemcpyAsync(h, bad, sizeof(long long), cudaMemcpyDeviceToHost, bound_stream()));
  sync();
  const long long r = *h;
  if (r < rows) {
    int32_t label = 0;
    MP_CUDA_CHECK(cudaMemcpyAsync(&label, ptr<const int32_t>(labels) + r, sizeof(label),
                                  cudaMemcpyDeviceToHost, bound_stream()));
    sync();
    throw op_checks::bad_label(r, label, C, ignore_index);
  }
}

void CudaBackend::softmax_xent_deferred_impl(const Tensor& logits, const Tensor& labels,
                                             int32_t ignore_index, float grad_scale,
                                             Tensor& losses, Tensor* dlogits, Tensor& stats) {
  if (dlogits && !same_dtype({&logits, dlogits})) {
    const Tensor x32 = f32_copy(logits, 0);
    Tensor d32 = dlogits->dtype() == DType::F32 ? *dlogits
                                                : workspace(1, dlogits->shape(), DType::F32);
    softmax_xent_deferred(x32, labels, ignore_index, grad_scale, losses, &d32, stats);
    if (d32.raw() != dlogits->raw()) cast(d32, *dlogits);
    return;
  }
  long long* key = reinterpret_cast<long long*>(ptr<int64_t>(stats) + kStatBadLabel);
  launch_softmax_xent(logits, labels, ignore_index, grad_scale, losses, dlogits, nullptr, key,
                      bound_stream(), "softmax_xent_deferred");
}

void CudaBackend::mse_impl(const Tensor& pred, const Tensor& target, float grad_scale,
                           Tensor& losses, Tensor* dpred) {
  const char* op = "mse";
  const int64_t rows = pred.rows(), cols = pred.cols();
  if (!same_dtype({&pred, &target, dpred})) {
    const Tensor p32 = f32_copy(pred, 0), t32 = f32_copy(target, 1);
    Tensor d32;
    if (dpred)
      d32 = dpred->dtype() == DType::F32 ? *dpred : workspace(2, dpred->shape(), DType::F32);
    mse(p32, t32, grad_scale, losses, dpred ? &d32 : nullptr);
    if (dpred && d32.raw() != dpred->raw()) cast(d32, *dpred);
    return;
  }
  dispatch_float(pred.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    if (cols <= kLongRow) {
      mse_kernel<T><<<row_blocks(rows), kThreads, 0, bound_stream()>>>(
          ptr<const T>(pred), ptr<const T>(target), grad_scale, ptr<float>(losses),
          dpred ? ptr<T>(*dpred) : nullptr, rows, cols);
      MP_CUDA_LAUNCH_CHECK("mse_kernel");
    } else if (rows > 0) {
      mse_block_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, bound_stream()>>>(
          ptr<const T>(pred), ptr<const T>(target), grad_scale, ptr<float>(losses),
          dpred ? ptr<T>(*dpred) : nullptr, cols);
      MP_CUDA_LAUNCH_CHECK("mse_block_kernel");
    }
  });
}

void CudaBackend::argmax_rows_impl(const Tensor& x, Tensor& out_i32) {
  const int64_t rows = x.rows(), cols = x.cols();
  dispatch_float(x.dtype(), "argmax_rows", [&](auto tag) {
    using T = decltype(tag);
    if (cols <= kLongRow) {
      argmax_kernel<T><<<row_blocks(rows), kThreads, 0, bound_stream()>>>(
          ptr<const T>(x), ptr<int32_t>(out_i32), rows, cols);
      MP_CUDA_LAUNCH_CHECK("argmax_kernel");
    } else if (rows > 0) {
      argmax_block_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, bound_stream()>>>(
          ptr<const T>(x), ptr<int32_t>(out_i32), cols);
      MP_CUDA_LAUNCH_CHECK("argmax_block_kernel");
    }
  });
}

}  // namespace mp::cuda
