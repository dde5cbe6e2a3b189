// cuda_flash_attention.cu: CudaBackend's fused causal attention (Backend::attention_forward /
// _backward) for head dims 32, 64 and 128 (fused_attention_supports; other d take the unfused
// path in the layer). The math is kernels/attention.h's (the CPU engine's rows are the reference,
// tests/unit/backend_cuda_parity.cpp compares the two); these kernels only tile it:
//   forward   one block per tile of query rows of one [T, d] slice; K/V tiles of 32 keys staged in
//             shared memory as fp32, one key per lane for the scores, online softmax with fp32
//             running max and sum per row (kernels::OnlineSoftmax), the output accumulated in fp32
//             (each lane owns d/32 columns) and rounded once; key tiles past the block's last
//             query row are skipped (causal).
//   backward  delta_i = <dout_i, out_i> (one warp per row), then two passes that each own their
//             outputs, so no float atomics and deterministic bits: dK/dV per tile of keys (one
//             query per lane, the query tiles from the key tile's first row on) and dQ per tile of
//             query rows (one key per lane, as the forward). P is recomputed from the fp32 lse.
// Plain fp32 CUDA-core arithmetic (no tensor cores): simple tiling chosen to be right first, not
// fast. Tile sizes keep every kernel's shared memory static and under 48 KiB, and each lane's
// accumulators at 8 (forward, dQ) or 16 (dK/dV) floats, whatever d.
#include <type_traits>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_launch.cuh"
#include "kernels/attention.h"

namespace mp::cuda {

namespace {

constexpr int kFlashWarps = 4;
constexpr int kFlashThreads = kFlashWarps * kWarp;
constexpr int kKeyTile = kWarp;    // forward and dQ: one key per lane (accumulate_rows: 32 rows)
constexpr int kQueryTile = kWarp;  // dK/dV: one query row per lane
constexpr unsigned kFull = 0xffffffffu;

// Per head dim D: the columns each lane owns, and the rows (forward, dQ: query rows; dK/dV: keys)
// each warp owns, so that rows * columns per lane is 8 for every D.
template <int D>
struct FlashTile {
  static_assert(D % kWarp == 0 && D <= 256, "head dim: a multiple of 32, at most 256");
  static constexpr int kPerLane = D / kWarp;
  static constexpr int kRowsPerWarp = 256 / D;
  static constexpr int kRows = kFlashWarps * kRowsPerWarp;  // per block
};

// Block b of a grid of slices * tiles blocks: its slice and its tile. Tiles are numbered so that
// the blocks with the most causal work (heavy_last: the last tiles) start first.
struct BlockTile {
  int64_t n;
  int tile;
};
__device__ __forceinline__ BlockTile block_tile(int64_t slices, int tiles, bool heavy_last) {
  const int64_t b = blockIdx.x;
  const int t = static_cast<int>(b / slices);
  return {b % slices, heavy_last ? tiles - 1 - t : t};
}

// rows [r0, r0 + R) of a [T, D] slice (storage type T) into fp32 shared rows of stride S; rows
// past T are zero. Called by the whole block.
template <int D, int S, class T>
__device__ void load_rows(const T* src, int64_t base, int r0, int R, int Tn, float* dst) {
  for (int i = threadIdx.x; i < R * D; i += kFlashThreads) {
    const int r = i / D, e = i % D;
    dst[r * S + e] = r0 + r < Tn ? to_float(src[base + static_cast<int64_t>(r0 + r) * D + e]) : 0.0f;
  }
}

// acc[c] += sum_j w_j tile[j][lane + 32 c] over 32 shared rows of stride S, where w_j is the
// weight lane j holds (a probability or a score gradient): a lane's columns of P V, dS K, ...
// Rows in ascending order, so each sum has one fixed order. The whole warp calls it.
template <int PL, int S>
__device__ __forceinline__ void accumulate_rows(float (&acc)[PL], float w, const float* tile,
                                                int lane) {
  for (int j = 0; j < kWarp; ++j) {
    const float wj = __shfl_sync(kFull, w, j);
#pragma unroll
    for (int c = 0; c < PL; ++c) acc[c] = fmaf(wj, tile[j * S + lane + c * kWarp], acc[c]);
  }
}

template <class T, int D>
__global__ void __launch_bounds__(kFlashThreads)
    flash_fwd_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                     T* __restrict__ out, float* __restrict__ lse, int64_t slices, int Tn,
                     int tiles, float scale) {
  using Tile = FlashTile<D>;
  constexpr int R = Tile::kRowsPerWarp, BQ = Tile::kRows, PL = Tile::kPerLane;
  __shared__ float qs[BQ][D];             // read as broadcasts
  __shared__ float ks[kKeyTile][D + 1];   // lane j reads row j: padded against bank conflicts
  __shared__ float vs[kKeyTile][D];       // lanes read consecutive columns of one row
  const BlockTile bt = block_tile(slices, tiles, true);
  const int q0 = bt.tile * BQ;
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int64_t base = bt.n * Tn * D;
  load_rows<D, D>(q, base, q0, BQ, Tn, &qs[0][0]);
  kernels::OnlineSoftmax st[R];
  float acc[R][PL];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int c = 0; c < PL; ++c) acc[r][c] = 0.0f;
  const int q_end = min(Tn, q0 + BQ);  // keys past the block's last query row: masked for all
  for (int k0 = 0; k0 < q_end; k0 += kKeyTile) {
    __syncthreads();  // the previous tile is read by every warp (first pass: Q is written)
    load_rows<D, D + 1>(k, base, k0, kKeyTile, Tn, &ks[0][0]);
    load_rows<D, D>(v, base, k0, kKeyTile, Tn, &vs[0][0]);
    __syncthreads();
    const int kj = k0 + lane;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const int row = warp * R + r, qi = q0 + row;
      if (qi >= Tn) continue;  // warp-uniform: the shuffles below see every lane
      const bool vis = kj <= qi;
      float s = -INFINITY;
      if (vis) {
        float dot = 0.0f;
#pragma unroll 8
        for (int e = 0; e < D; ++e) dot = fmaf(qs[row][e], ks[lane][e], dot);
        s = scale * dot;
      }
      const float c = st[r].absorb_max(warp_max(s));
      const float p = vis ? kernels::exp_f32(s - st[r].m) : 0.0f;
      st[r].l += warp_sum(p);
#pragma unroll
      for (int cc = 0; cc < PL; ++cc) acc[r][cc] *= c;
      accumulate_rows<PL, D>(acc[r], p, &vs[0][0], lane);
    }
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int qi = q0 + warp * R + r;
    if (qi >= Tn) continue;
    const float inv = 1.0f / st[r].l;
    T* o = out + base + static_cast<int64_t>(qi) * D;
#pragma unroll
    for (int c = 0; c < PL; ++c) o[lane + c * kWarp] = from_float<T>(acc[r][c] * inv);
    if (lane == 0) lse[bt.n * Tn + qi] = kernels::attention_lse(st[r].m, st[r].l);
  }
}

// delta[r] = <dout_r, out_r> for rows of d elements, one warp per row.
template <class T>
__global__ void flash_delta_kernel(const T* __restrict__ dout, const T* __restrict__ out,
                                   float* __restrict__ delta, int64_t rows, int d) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
  if (r >= rows) return;
  const int lane = threadIdx.x % kWarp;
  float acc = 0.0f;
  for (int e = lane; e < d; e += kWarp) acc = fmaf(to_float(dout[r * d + e]), to_float(out[r * d + e]), acc);
  acc = warp_sum(acc);
  if (lane == 0) delta[r] = acc;
}

template <class T, int D>
__global__ void __launch_bounds__(kFlashThreads)
    flash_bwd_dkdv_kernel(const T* __restrict__ q, const T* __restrict__ k,
                          const T* __restrict__ v, const T* __restrict__ dout,
                          const float* __restrict__ lse, const float* __restrict__ delta,
                          T* __restrict__ dk, T* __restrict__ dv, int64_t slices, int Tn, int tiles,
                          float scale) {
  using Tile = FlashTile<D>;
  constexpr int R = Tile::kRowsPerWarp, BK = Tile::kRows, PL = Tile::kPerLane;
  __shared__ float ks[BK][D], vs[BK][D];  // a warp reads its own keys' rows as broadcasts
  __shared__ float qs[kQueryTile][D + 1], dos[kQueryTile][D + 1];  // lane i reads row i
  __shared__ float ls[kQueryTile], dls[kQueryTile];
  const BlockTile bt = block_tile(slices, tiles, false);  // the first key tiles have most queries
  const int k0 = bt.tile * BK;
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int64_t base = bt.n * Tn * D;
  load_rows<D, D>(k, base, k0, BK, Tn, &ks[0][0]);
  load_rows<D, D>(v, base, k0, BK, Tn, &vs[0][0]);
  float dka[R][PL], dva[R][PL];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int c = 0; c < PL; ++c) dka[r][c] = dva[r][c] = 0.0f;
  // Query rows before k0 see none of these keys: start at the query tile holding row k0.
  for (int i0 = (k0 / kQueryTile) * kQueryTile; i0 < Tn; i0 += kQueryTile) {
    __syncthreads();  // the previous query tile is read by every warp (first pass: K, V written)
    load_rows<D, D + 1>(q, base, i0, kQueryTile, Tn, &qs[0][0]);
    load_rows<D, D + 1>(dout, base, i0, kQueryTile, Tn, &dos[0][0]);
    if (threadIdx.x < kQueryTile) {
      const int i = i0 + threadIdx.x;
      ls[threadIdx.x] = i < Tn ? lse[bt.n * Tn + i] : 0.0f;
      dls[threadIdx.x] = i < Tn ? delta[bt.n * Tn + i] : 0.0f;
    }
    __syncthreads();
    const int qi = i0 + lane;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const int key = warp * R + r, kj = k0 + key;
      if (kj >= Tn) continue;  // warp-uniform
      float p = 0.0f, ds = 0.0f;
      if (kj <= qi && qi < Tn) {
        float sdot = 0.0f, pdot = 0.0f;
#pragma unroll 8
        for (int e = 0; e < D; ++e) {
          sdot = fmaf(qs[lane][e], ks[key][e], sdot);
          pdot = fmaf(dos[lane][e], vs[key][e], pdot);
        }
        p = kernels::attention_prob(scale * sdot, ls[lane]);
        ds = scale * (p * (pdot - dls[lane]));
      }
      accumulate_rows<PL, D + 1>(dva[r], p, &dos[0][0], lane);
      accumulate_rows<PL, D + 1>(dka[r], ds, &qs[0][0], lane);
    }
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int kj = k0 + warp * R + r;
    if (kj >= Tn) continue;
    const int64_t o = base + static_cast<int64_t>(kj) * D;
#pragma unroll
    for (int c = 0; c < PL; ++c) {
      dk[o + lane + c * kWarp] = from_float<T>(dka[r][c]);
      dv[o + lane + c * kWarp] = from_float<T>(dva[r][c]);
    }
  }
}

template <class T, int D>
__global__ void __launch_bounds__(kFlashThreads)
    flash_bwd_dq_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                        const T* __restrict__ dout, const float* __restrict__ lse,
                        const float* __restrict__ delta, T* __restrict__ dq, int64_t slices,
                        int Tn, int tiles, float scale) {
  using Tile = FlashTile<D>;
  constexpr int R = Tile::kRowsPerWarp, BQ = Tile::kRows, PL = Tile::kPerLane;
  __shared__ float qs[BQ][D], dos[BQ][D];                    // read as broadcasts
  __shared__ float ks[kKeyTile][D + 1], vs[kKeyTile][D + 1];  // lane j reads row j
  const BlockTile bt = block_tile(slices, tiles, true);
  const int q0 = bt.tile * BQ;
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int64_t base = bt.n * Tn * D;
  load_rows<D, D>(q, base, q0, BQ, Tn, &qs[0][0]);
  load_rows<D, D>(dout, base, q0, BQ, Tn, &dos[0][0]);
  float acc[R][PL], lr[R], dr[R];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int qi = q0 + warp * R + r;
    lr[r] = qi < Tn ? lse[bt.n * Tn + qi] : 0.0f;
    dr[r] = qi < Tn ? delta[bt.n * Tn + qi] : 0.0f;
#pragma unroll
    for (int c = 0; c < PL; ++c) acc[r][c] = 0.0f;
  }
  const int q_end = min(Tn, q0 + BQ);
  for (int k0 = 0; k0 < q_end; k0 += kKeyTile) {
    __syncthreads();
    load_rows<D, D + 1>(k, base, k0, kKeyTile, Tn, &ks[0][0]);
    load_rows<D, D + 1>(v, base, k0, kKeyTile, Tn, &vs[0][0]);
    __syncthreads();
    const int kj = k0 + lane;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const int row = warp * R + r, qi = q0 + row;
      if (qi >= Tn) continue;  // warp-uniform
      float ds = 0.0f;
      if (kj <= qi) {
        float sdot = 0.0f, pdot = 0.0f;
#pragma unroll 8
        for (int e = 0; e < D; ++e) {
          sdot = fmaf(qs[row][e], ks[lane][e], sdot);
          pdot = fmaf(dos[row][e], vs[lane][e], pdot);
        }
        const float p = kernels::attention_prob(scale * sdot, lr[r]);
        ds = scale * (p * (pdot - dr[r]));
      }
      accumulate_rows<PL, D + 1>(acc[r], ds, &ks[0][0], lane);
    }
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int qi = q0 + warp * R + r;
    if (qi >= Tn) continue;
    T* o = dq + base + static_cast<int64_t>(qi) * D;
#pragma unroll
    for (int c = 0; c < PL; ++c) o[lane + c * kWarp] = from_float<T>(acc[r][c]);
  }
}

// f(std::integral_constant<int, D>{}) for the head dims the kernels are instantiated for.
template <class F>
void dispatch_head_dim(int64_t d, const char* op, F&& f) {
  switch (d) {
    case 32: f(std::integral_constant<int, 32>{}); return;
    case 64: f(std::integral_constant<int, 64>{}); return;
    case 128: f(std::integral_constant<int, 128>{}); return;
    default: break;
  }
  MP_CHECK(false, std::string(op) + ": no flash kernel for head dim " + std::to_string(d));
}

unsigned flash_grid(int64_t slices, int tiles) {
  const int64_t b = slices * tiles;
  MP_CHECK(b <= 0x7fffffff, "flash attention: " + std::to_string(slices) + " slices of " +
                                std::to_string(tiles) + " tiles exceed the grid");
  return static_cast<unsigned>(b);
}

int tiles_of(int64_t T, int rows) { return static_cast<int>((T + rows - 1) / rows); }

}  // namespace

bool CudaBackend::fused_attention_supports(int64_t d) const {
  return kernels::cuda_flash_head_dim(d);  // dispatch_head_dim's cases
}

void CudaBackend::attention_forward_impl(const Tensor& q, const Tensor& k, const Tensor& v,
                                         float scale, Tensor& out, Tensor& lse) {
  const int64_t N = q.shape()[0], T = q.shape()[1];
  MP_CHECK(T <= 0x7fffffff, "attention_forward: T = " + std::to_string(T) + " is too long");
  cudaStream_t st = bound_stream();
  dispatch_float(q.dtype(), "attention_forward", [&](auto tag) {
    using S = decltype(tag);
    dispatch_head_dim(q.shape()[2], "attention_forward", [&](auto dim) {
      constexpr int D = decltype(dim)::value;
      const int tiles = tiles_of(T, FlashTile<D>::kRows);
      flash_fwd_kernel<S, D><<<flash_grid(N, tiles), kFlashThreads, 0, st>>>(
          ptr<const S>(q), ptr<const S>(k), ptr<const S>(v), ptr<S>(out), ptr<float>(lse), N,
          static_cast<int>(T), tiles, scale);
      MP_CUDA_LAUNCH_CHECK("flash_fwd_kernel");
    });
  });
}

void CudaBackend::attention_backward_impl(const Tensor& q, const Tensor& k, const Tensor& v,
                                          const Tensor& out, const Tensor& dout, const Tensor& lse,
                                          float scale, Tensor& dq, Tensor& dk, Tensor& dv) {
  const int64_t N = q.shape()[0], T = q.shape()[1], d = q.shape()[2];
  MP_CHECK(T <= 0x7fffffff, "attention_backward: T = " + std::to_string(T) + " is too long");
  Tensor delta = workspace(0, {N, T}, DType::F32);  // reused: no allocation per step
  cudaStream_t st = bound_stream();
  dispatch_float(q.dtype(), "attention_backward", [&](auto tag) {
    using S = decltype(tag);
    flash_delta_kernel<S><<<row_blocks(N * T), kThreads, 0, st>>>(
        ptr<const S>(dout), ptr<const S>(out), ptr<float>(delta), N * T, static_cast<int>(d));
    MP_CUDA_LAUNCH_CHECK("flash_delta_kernel");
    dispatch_head_dim(d, "attention_backward", [&](auto dim) {
      constexpr int D = decltype(dim)::value;
      const int ktiles = tiles_of(T, FlashTile<D>::kRows);
      flash_bwd_dkdv_kernel<S, D><<<flash_grid(N, ktiles), kFlashThreads, 0, st>>>(
          ptr<const S>(q), ptr<const S>(k), ptr<const S>(v), ptr<const S>(dout),
          ptr<const float>(lse), ptr<const float>(delta), ptr<S>(dk), ptr<S>(dv), N,
          static_cast<int>(T), ktiles, scale);
      MP_CUDA_LAUNCH_CHECK("flash_bwd_dkdv_kernel");
      const int qtiles = tiles_of(T, FlashTile<D>::kRows);
      flash_bwd_dq_kernel<S, D><<<flash_grid(N, qtiles), kFlashThreads, 0, st>>>(
          ptr<const S>(q), ptr<const S>(k), ptr<const S>(v), ptr<const S>(dout),
          ptr<const float>(lse), ptr<const float>(delta), ptr<S>(dq), N, static_cast<int>(T),
          qtiles, scale);
      MP_CUDA_LAUNCH_CHECK("flash_bwd_dq_kernel");
    });
  });
}

}  // namespace mp::cuda
