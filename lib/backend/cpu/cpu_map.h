// cpu_map.h: the CPU backend's elementwise loop shapes. Each runs tiles in parallel, stages
// non-fp32 operands through fp32 tile buffers (cpu_convert.h), applies a float functor in a plain
// loop the compiler vectorises, and rounds the output once on store. Aliasing an input with the
// output (in-place ops) is allowed: each element is read before it is written.
#pragma once
#include <cstdint>

#include "backend/cpu/cpu_convert.h"
#include "backend/cpu/cpu_parallel.h"

namespace mp::cpu {

// y[i] = f(x[i])
template <class F> void map1(int threads, const Tensor& x, const Tensor& y, F f) {
  for_each_tile(threads, x.numel(), [&](int64_t, int64_t b, int64_t n) {
    alignas(64) float bx[kTile], by[kTile];
    const float* xs = f32_in(x, b, n, bx);
    float* ys = f32_out(y, b, by);
    for (int64_t i = 0; i < n; ++i) ys[i] = f(xs[i]);
    f32_commit(y, b, n, ys);
  });
}

// y[i] = f(a[i], b[i])
template <class F> void map2(int threads, const Tensor& a, const Tensor& b, const Tensor& y, F f) {
  for_each_tile(threads, a.numel(), [&](int64_t, int64_t s, int64_t n) {
    alignas(64) float ba[kTile], bb[kTile], by[kTile];
    const float* as = f32_in(a, s, n, ba);
    const float* bs = f32_in(b, s, n, bb);
    float* ys = f32_out(y, s, by);
    for (int64_t i = 0; i < n; ++i) ys[i] = f(as[i], bs[i]);
    f32_commit(y, s, n, ys);
  });
}

// bits[k] = philox_bits(seed, offset, begin + k) for k < n, one Philox4x32 call per 4 elements.
void philox_tile(uint64_t seed, uint64_t offset, int64_t begin, int64_t n, uint32_t* bits);

}  // namespace mp::cpu
