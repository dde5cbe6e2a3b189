// cuda_row_vec.cuh: 16-byte loads and stores for the row kernels (cuda_rowwise.cu; nvcc only),
// without changing any value or any summation order:
//   row_lanes   kernels/row_reduce.h's 8-lane loop (kRowLanes interleaved fp32 partials: element
//               i of the main loop into lane i % 8, the tail's elements into lanes 0, 1, ...) over
//               a contiguous chunk, each 8-element step read with 16-byte loads when every
//               operand is 16-byte aligned at the chunk's start (one load for a 16-bit type, two
//               for fp32), element by element otherwise. The per-element step is the kernels/
//               function's own, so a chunk's partials are those of kernels::row_sum & co.
//   row_scan    a sequential pass over a chunk in index order (row_max, row_argmax), same loads.
//   row_each    a read-only pass over a row shared by `lanes` threads, in row_map's layout.
//   row_map     out[j] = f(j, a[j], b[j], c[j]) for a row shared by `lanes` threads: groups of 8
//               elements per thread with 16-byte loads and stores when every operand's row start
//               is 16-byte aligned (cols * dtype size % 16 == 0 on an aligned base), the
//               remaining elements (and every element of an unaligned row) lane-strided scalar.
//               Elementwise, so the layout changes no value; each thread reads its elements
//               before writing them (in-place calls allowed).
// Loads widen with cuda_vec.cuh's conversions (core/half.h's bits) and stores round as
// from_float does, so every value is the scalar code's.
#pragma once
#include <cstdint>

#include "backend/cuda/cuda_vec.cuh"
#include "kernels/row_reduce.h"
#include "kernels/softmax_xent.h"

namespace mp::cuda {

__device__ __forceinline__ bool aligned16(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 15u) == 0;
}

// Whether every given operand (nullptr: unused) is 16-byte aligned.
__device__ __forceinline__ bool all_aligned16(const void* a, const void* b = nullptr,
                                              const void* c = nullptr,
                                              const void* d = nullptr) {
  return aligned16(a) && (!b || aligned16(b)) && (!c || aligned16(c)) && (!d || aligned16(d));
}

// x[0, 8) as fp32 from 16-byte loads (x 16-byte aligned); a null x reads zeros.
template <class T> __device__ __forceinline__ void load8(const T* x, float* f) {
  constexpr int K = 16 / static_cast<int>(sizeof(T));
  if (!x) {
#pragma unroll
    for (int k = 0; k < 8; ++k) f[k] = 0.0f;
    return;
  }
#pragma unroll
  for (int k = 0; k < 8; k += K) load_pack<K>(x + k, f + k);
}

// x[0, 8) element by element; a null x reads zeros.
template <class T> __device__ __forceinline__ void load8_scalar(const T* x, float* f) {
#pragma unroll
  for (int k = 0; k < 8; ++k) f[k] = x ? load_f32(x[k]) : 0.0f;
}

// p[0, 8) = f rounded to T, with 16-byte stores (p 16-byte aligned).
template <class T> __device__ __forceinline__ void store8(T* p, const float* f) {
  constexpr int K = 16 / static_cast<int>(sizeof(T));
#pragma unroll
  for (int k = 0; k < 8; k += K) store_pack<K>(p + k, f + k);
}

template <class T> __device__ __forceinline__ float load_or0(const T* x, int64_t i) {
  return x ? load_f32(x[i]) : 0.0f;
}

// step(l, a[i], b[i], c[i]) for i < n in kernels/row_reduce.h's lane order (see the top).
template <bool kVec, class A, class B, class C, class Step>
__device__ __forceinline__ void row_lanes_impl(const A* a, const B* b, const C* c, int64_t n,
                                               Step& step) {
  constexpr int L = kernels::kRowLanes;
  static_assert(L == 8, "row_lanes loads 8 elements per step");
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    float va[L], vb[L], vc[L];
    if constexpr (kVec) {
      load8(a ? a + i : a, va);
      load8(b ? b + i : b, vb);
      load8(c ? c + i : c, vc);
    } else {
      load8_scalar(a ? a + i : a, va);
      load8_scalar(b ? b + i : b, vb);
      load8_scalar(c ? c + i : c, vc);
    }
#pragma unroll
    for (int l = 0; l < L; ++l) step(l, va[l], vb[l], vc[l]);
  }
#pragma unroll
  for (int l = 0; l < L; ++l)  // the tail: fewer than 8 elements, into lanes 0, 1, ...
    if (i + l < n) step(l, load_or0(a, i + l), load_or0(b, i + l), load_or0(c, i + l));
}

template <class A, class B, class C, class Step>
__device__ __forceinline__ void row_lanes(const A* a, const B* b, const C* c, int64_t n,
                                          Step step) {
  if (all_aligned16(a, b, c))
    row_lanes_impl<true>(a, b, c, n, step);
  else
    row_lanes_impl<false>(a, b, c, n, step);
}

// visit(i, x[i]) for i < n in index order, 8-element steps with 16-byte loads when x is aligned.
template <class T, class Visit>
__device__ __forceinline__ void row_scan(const T* x, int64_t n, Visit visit) {
  int64_t i = 0;
  if (aligned16(x)) {
    for (; i + 8 <= n; i += 8) {
      float v[8];
      load8(x + i, v);
#pragma unroll
      for (int k = 0; k < 8; ++k) visit(i + k, v[k]);
    }
  }
  for (; i < n; ++i) visit(i, load_f32(x[i]));
}

// ---- the kernels/ row reductions over a chunk, with row_lanes / row_scan loads -----------------

template <class T> __device__ __forceinline__ float chunk_sum(const T* x, int64_t n) {
  float acc[kernels::kRowLanes] = {};
  row_lanes(x, static_cast<const T*>(nullptr), static_cast<const T*>(nullptr), n,
            [&](int l, float v, float, float) { acc[l] += v; });
  return kernels::combine_lanes(acc);  // kernels::row_sum
}

template <class T>
__device__ __forceinline__ float chunk_centered_sum_sq(const T* x, int64_t n, float c) {
  float acc[kernels::kRowLanes] = {};
  row_lanes(x, static_cast<const T*>(nullptr), static_cast<const T*>(nullptr), n,
            [&](int l, float v, float, float) {
              const float d = v - c;
              acc[l] += d * d;
            });
  return kernels::combine_lanes(acc);  // kernels::row_centered_sum_sq
}

template <class T> __device__ __forceinline__ float chunk_max(const T* x, int64_t n) {
  float m = -INFINITY;  // kernels::row_max: NaN skipped
  row_scan(x, n, [&](int64_t, float v) { m = v > m ? v : m; });
  return m;
}

// (max, index of its first occurrence) as kernels::row_max and row_argmax.
struct ArgMax {
  float m;
  int64_t i;
};
template <class T> __device__ __forceinline__ ArgMax chunk_argmax(const T* x, int64_t n) {
  ArgMax r{-INFINITY, 0};
  row_scan(x, n, [&](int64_t i, float v) {
    if (v > r.m) r = {v, i};
  });
  return r;
}

template <class T> __device__ __forceinline__ float chunk_sum_exp(const T* x, int64_t n, float m) {
  float acc[kernels::kRowLanes] = {};
  row_lanes(x, static_cast<const T*>(nullptr), static_cast<const T*>(nullptr), n,
            [&](int l, float v, float, float) { acc[l] += kernels::exp_f32(v - m); });
  return kernels::combine_lanes(acc);  // kernels::row_sum_exp
}

// visit(j, a[j]) for j < n by thread `lane` of `lanes`: 8-element groups with 16-byte loads when
// a is aligned, the rest lane-strided (row_map's layout, without an output).
template <class A, class Visit>
__device__ __forceinline__ void row_each(const A* a, int64_t n, int lane, int lanes, Visit visit) {
  int64_t done = 0;
  if (aligned16(a)) {
    const int64_t groups = n / 8;
    for (int64_t g = lane; g < groups; g += lanes) {
      float v[8];
      load8(a + g * 8, v);
#pragma unroll
      for (int k = 0; k < 8; ++k) visit(g * 8 + k, v[k]);
    }
    done = groups * 8;
  }
  for (int64_t j = done + lane; j < n; j += lanes) visit(j, load_f32(a[j]));
}

// out[j] = f(j, a[j], b[j], c[j]) for j < n by thread `lane` of `lanes` (see the top).
template <class To, class A, class B, class C, class F>
__device__ __forceinline__ void row_map(To* out, const A* a, const B* b, const C* c, int64_t n,
                                        int lane, int lanes, F f) {
  int64_t done = 0;
  if (all_aligned16(out, a, b, c)) {
    const int64_t groups = n / 8;
    for (int64_t g = lane; g < groups; g += lanes) {
      const int64_t i = g * 8;
      float va[8], vb[8], vc[8], y[8];
      load8(a ? a + i : a, va);
      load8(b ? b + i : b, vb);
      load8(c ? c + i : c, vc);
#pragma unroll
      for (int k = 0; k < 8; ++k) y[k] = f(i + k, va[k], vb[k], vc[k]);
      store8(out + i, y);
    }
    done = groups * 8;
  }
  for (int64_t j = done + lane; j < n; j += lanes)
    out[j] = store_as<To>(f(j, load_or0(a, j), load_or0(b, j), load_or0(c, j)));
}

}  // namespace mp::cuda
