// cpu_parallel.h: how the CPU backend splits work over OpenMP threads. Element ops run over tiles
// of kTile elements (a multiple of 4, so Philox blocks never straddle tiles) with a static
// schedule; small ops stay on the calling thread, where a parallel region would cost more than it
// saves. Reductions keep one partial per tile and combine them in tile order, so their results do
// not depend on the thread count.
#pragma once
#include <algorithm>
#include <cstdint>

namespace mp::cpu {

constexpr int64_t kTile = 2048;                // elements per tile (8 KiB as fp32)
constexpr int64_t kParallelMinElems = 1 << 15;  // below this, one thread

inline int64_t num_tiles(int64_t n) { return (n + kTile - 1) / kTile; }

// f(tile_index, begin, count) for every tile of [0, n).
template <class F> void for_each_tile(int threads, int64_t n, F&& f) {
  const int64_t tiles = num_tiles(n);
  const bool par = threads > 1 && n >= kParallelMinElems;
#pragma omp parallel for schedule(static) num_threads(threads) if (par)
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t b = t * kTile;
    f(t, b, std::min(kTile, n - b));
  }
}

// f(row) for rows [0, rows); parallel when rows * cols is large enough.
template <class F> void for_each_row(int threads, int64_t rows, int64_t cols, F&& f) {
  const bool par = threads > 1 && rows > 1 && rows * cols >= kParallelMinElems;
#pragma omp parallel for schedule(static) num_threads(threads) if (par)
  for (int64_t r = 0; r < rows; ++r) f(r);
}

}  // namespace mp::cpu
