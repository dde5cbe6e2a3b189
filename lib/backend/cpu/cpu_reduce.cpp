// cpu_reduce.cpp: CpuBackend's reductions: sum, sum_squares, unscale_and_check, check_grad (the
// last two fused, read-only), magnitude_stats and bias_grad (column sums). Each keeps one partial
// per fixed block of the input (tiles, row blocks) and combines the partials in block order in
// fp64, so results are deterministic and independent of the thread count. Partials are fp32,
// except sums of squares: exact fp64 squares in fp64 lanes, which cannot overflow for finite input.
#include <cmath>
#include <type_traits>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_map.h"
#include "kernels/unscale.h"

namespace mp::cpu {

namespace {

constexpr int kLanes = 16;

// One tile's partial: kLanes accumulators over the tile in order, summed in fp64. Plain sums
// accumulate in fp32; sums of squares add exact fp64 squares in fp64 (kernels::square_f64).
template <bool kSquares> double tile_sum(const float* v, int64_t n) {
  using Acc = std::conditional_t<kSquares, double, float>;
  auto term = [](float x) -> Acc {
    if constexpr (kSquares) return kernels::square_f64(x);
    else return x;
  };
  Acc acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += term(v[i + l]);
  for (int l = 0; i < n; ++i, ++l) acc[l] += term(v[i]);
  double s = 0.0;
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

template <bool kSquares> double reduce_sum(int threads, const Tensor& x, ScratchBuffer& scratch) {
  const int64_t tiles = num_tiles(x.numel());
  double* part = scratch.get_as<double>(static_cast<size_t>(tiles));
  for_each_tile(threads, x.numel(), [&](int64_t t, int64_t b, int64_t n) {
    alignas(64) float buf[kTile];
    part[t] = tile_sum<kSquares>(f32_in(x, b, n, buf), n);
  });
  double total = 0.0;
  for (int64_t t = 0; t < tiles; ++t) total += part[t];
  return total;
}

}  // namespace

double CpuBackend::sum_impl(const Tensor& x) { return reduce_sum<false>(threads_, x, op_scratch_); }

double CpuBackend::sum_squares_impl(const Tensor& x) {
  return reduce_sum<true>(threads_, x, op_scratch_);
}

bool CpuBackend::unscale_and_check_impl(Tensor& x, float inv_scale) {
  const int64_t tiles = num_tiles(x.numel());
  uint8_t* bad = op_scratch_.get_as<uint8_t>(static_cast<size_t>(tiles));
  for_each_tile(threads_, x.numel(), [&](int64_t t, int64_t b, int64_t n) {
    alignas(64) float bx[kTile], by[kTile];
    const float* v = f32_in(x, b, n, bx);
    float* o = f32_out(x, b, by);
    int found = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float u = kernels::unscale_element(v[i], inv_scale);
      found |= kernels::is_nonfinite(u) ? 1 : 0;
      o[i] = u;
    }
    f32_commit(x, b, n, o);
    bad[t] = static_cast<uint8_t>(found);
  });
  bool any = false;
  for (int64_t t = 0; t < tiles; ++t) any |= bad[t] != 0;
  return any;
}

GradCheck CpuBackend::check_grad_impl(const Tensor& grad, float inv_scale) {
  const int64_t tiles = num_tiles(grad.numel());
  struct Part {
    double sum;
    int bad;  // bit 0: some grad * inv_scale non-finite; bit 1: some grad non-finite
  };
  Part* part = op_scratch_.get_as<Part>(static_cast<size_t>(tiles));
  for_each_tile(threads_, grad.numel(), [&](int64_t t, int64_t b, int64_t n) {
    alignas(64) float buf[kTile], u[kTile];
    const float* v = f32_in(grad, b, n, buf);
    int scaled = 0, unscaled = 0;
    for (int64_t i = 0; i < n; ++i) {  // the values unscale_and_check would store
      scaled |= kernels::is_nonfinite(v[i]) ? 1 : 0;
      u[i] = kernels::unscale_element(v[i], inv_scale);
      unscaled |= kernels::is_nonfinite(u[i]) ? 1 : 0;
    }
    part[t] = {tile_sum<true>(u, n), unscaled | (scaled << 1)};
  });
  GradCheck c;
  for (int64_t t = 0; t < tiles; ++t) {
    c.sum_squares += part[t].sum;
    c.nonfinite |= (part[t].bad & 1) != 0;
    c.scaled_nonfinite |= (part[t].bad & 2) != 0;
  }
  return c;
}

void CpuBackend::magnitude_stats_impl(const Tensor& x, float factor, float threshold,
                                      int64_t& below, float& max_abs) {
  const int64_t tiles = num_tiles(x.numel());
  struct Part {
    int64_t below;
    float max_abs;
  };
  Part* part = op_scratch_.get_as<Part>(static_cast<size_t>(tiles));
  for_each_tile(threads_, x.numel(), [&](int64_t t, int64_t b, int64_t n) {
    alignas(64) float buf[kTile];
    const float* v = f32_in(x, b, n, buf);
    int64_t cnt = 0;
    float m = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
      cnt += kernels::is_small_magnitude(v[i], factor, threshold) ? 1 : 0;
      const float a = std::fabs(v[i]);
      m = a > m ? a : m;
    }
    part[t] = {cnt, m};
  });
  below = 0;
  max_abs = 0.0f;
  for (int64_t t = 0; t < tiles; ++t) {
    below += part[t].below;
    max_abs = part[t].max_abs > max_abs ? part[t].max_abs : max_abs;
  }
}

void CpuBackend::bias_grad_impl(const Tensor& dy, Tensor& db, float beta) {
  const int64_t M = dy.rows(), N = dy.cols();
  // Column chunks only split the work (each column still sums its rows in order): 256 columns let
  // two threads share a [256 x 1024] gradient, the common case.
  constexpr int64_t kRowBlock = 256, kColChunk = 256;
  const int64_t blocks = (M + kRowBlock - 1) / kRowBlock;
  const int64_t chunks = (N + kColChunk - 1) / kColChunk;
  // Phase 1: partial[blk][j] = fp32 sum of dy[r, j] over the block's rows, in row order.
  float* part = op_scratch_.get_as<float>(static_cast<size_t>(std::max<int64_t>(blocks, 1) * N));
  const int64_t tasks = blocks * chunks;
  const bool par = threads_ > 1 && tasks > 1 && M * N >= kParallelMinElems;
#pragma omp parallel for schedule(static) num_threads(threads_) if (par)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t blk = task / chunks, c0 = (task % chunks) * kColChunk;
    const int64_t nc = std::min(kColChunk, N - c0);
    float* acc = part + blk * N + c0;
    for (int64_t j = 0; j < nc; ++j) acc[j] = 0.0f;
    alignas(64) float buf[kColChunk];
    const int64_t r1 = std::min(M, (blk + 1) * kRowBlock);
    for (int64_t r = blk * kRowBlock; r < r1; ++r) {
      const float* v = f32_in(dy, r * N + c0, nc, buf);
      for (int64_t j = 0; j < nc; ++j) acc[j] += v[j];
    }
  }
  // Phase 2: db[j] = beta * db[j] + sum of the block partials in block order (fp64).
  float* d = db.data<float>();
  const bool par2 = threads_ > 1 && N * blocks >= kParallelMinElems;
#pragma omp parallel for schedule(static) num_threads(threads_) if (par2)
  for (int64_t j = 0; j < N; ++j) {
    double s = 0.0;
    for (int64_t blk = 0; blk < blocks; ++blk) s += part[blk * N + j];
    d[j] = static_cast<float>(beta != 0.0f ? static_cast<double>(beta) * d[j] + s : s);
  }
}

}  // namespace mp::cpu
