// row_reduce.h: fp32 reductions over one row of n elements of any float storage type: sum, dot,
// centred sum of squares, max, argmax. Sums keep kRowLanes interleaved partial sums (combined
// pairwise at the end), which is both more accurate than one running sum and lets a CPU compiler
// vectorise the loop without reassociating; the order is fixed, so results are deterministic.
// Device-safe (one thread per row); a CUDA kernel may instead reduce across a block.
#pragma once
#include <math.h>
#include <stdint.h>

#include "core/half.h"

namespace mp::kernels {

constexpr int kRowLanes = 8;

MP_HD float combine_lanes(const float* a) {
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

template <class T> MP_HD float row_sum(const T* x, int64_t n) {
  float acc[kRowLanes] = {};
  int64_t i = 0;
  for (; i + kRowLanes <= n; i += kRowLanes)
    for (int l = 0; l < kRowLanes; ++l) acc[l] += to_float(x[i + l]);
  for (int l = 0; i < n; ++i, ++l) acc[l] += to_float(x[i]);
  return combine_lanes(acc);
}

// sum_i (x_i - c)^2
template <class T> MP_HD float row_centered_sum_sq(const T* x, int64_t n, float c) {
  float acc[kRowLanes] = {};
  int64_t i = 0;
  for (; i + kRowLanes <= n; i += kRowLanes)
    for (int l = 0; l < kRowLanes; ++l) {
      const float d = to_float(x[i + l]) - c;
      acc[l] += d * d;
    }
  for (int l = 0; i < n; ++i, ++l) {
    const float d = to_float(x[i]) - c;
    acc[l] += d * d;
  }
  return combine_lanes(acc);
}

template <class A, class B> MP_HD float row_dot(const A* a, const B* b, int64_t n) {
  float acc[kRowLanes] = {};
  int64_t i = 0;
  for (; i + kRowLanes <= n; i += kRowLanes)
    for (int l = 0; l < kRowLanes; ++l) acc[l] += to_float(a[i + l]) * to_float(b[i + l]);
  for (int l = 0; i < n; ++i, ++l) acc[l] += to_float(a[i]) * to_float(b[i]);
  return combine_lanes(acc);
}

// Largest element; NaNs are skipped here (they still poison any sum computed from the row).
// -inf for an empty row.
template <class T> MP_HD float row_max(const T* x, int64_t n) {
  float m = -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    const float v = to_float(x[i]);
    m = v > m ? v : m;
  }
  return m;
}

// Index of the first largest element (NaNs skipped; 0 when every element is NaN or n == 0).
template <class T> MP_HD int32_t row_argmax(const T* x, int64_t n) {
  int32_t best = 0;
  float m = -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    const float v = to_float(x[i]);
    if (v > m) {
      m = v;
      best = static_cast<int32_t>(i);
    }
  }
  return best;
}

}  // namespace mp::kernels
