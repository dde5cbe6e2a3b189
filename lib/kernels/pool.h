// pool.h: max and average pooling over one NCHW plane of h x w elements (x, dy of any float
// storage type; fp32 math). Forward: one output element from its window; padding is skipped by
// max (a window always holds a real element: pad <= kernel / 2) and counted as zeros by average
// (divisor kh * kw, PyTorch's count_include_pad). Backward is a gather: an input element sums,
// over the output windows that contain it, dy (avg: dy / (kh kw); max: dy where the window's
// argmax is this element), in a fixed order, so both engines are deterministic without atomics.
// Max ties go to the first element in row-major window order. Device-safe; C++17.
#pragma once
#include <math.h>
#include <stdint.h>

#include "core/half.h"
#include "kernels/window2d.h"

namespace mp::kernels {

// Max of the window of output (oy, ox); *arg gets its plane index iy * w + ix.
template <class T>
MP_HD float max_pool_at(const T* x, int64_t h, int64_t w, const Window2d& k, int64_t oy, int64_t ox,
                        int32_t* arg) {
  float m = -INFINITY;
  int32_t best = -1;
  for (int64_t i = 0; i < k.kh; ++i) {
    const int64_t iy = oy * k.sh - k.ph + i * k.dh;
    if (iy < 0 || iy >= h) continue;
    for (int64_t j = 0; j < k.kw; ++j) {
      const int64_t ix = ox * k.sw - k.pw + j * k.dw;
      if (ix < 0 || ix >= w) continue;
      const float v = to_float(x[iy * w + ix]);
      // The first element always wins (best < 0), so an all-NaN window still names one.
      if (best < 0 || v > m) {
        m = v;
        best = static_cast<int32_t>(iy * w + ix);
      }
    }
  }
  *arg = best;
  return m;
}

template <class T>
MP_HD float avg_pool_at(const T* x, int64_t h, int64_t w, const Window2d& k, int64_t oy, int64_t ox) {
  float s = 0.0f;
  for (int64_t i = 0; i < k.kh; ++i) {
    const int64_t iy = oy * k.sh - k.ph + i * k.dh;
    if (iy < 0 || iy >= h) continue;
    for (int64_t j = 0; j < k.kw; ++j) {
      const int64_t ix = ox * k.sw - k.pw + j * k.dw;
      if (ix >= 0 && ix < w) s += to_float(x[iy * w + ix]);
    }
  }
  return s / static_cast<float>(k.kh * k.kw);
}

// The output index along one axis whose window tap `i` lands on input `in`; -1 if none.
MP_HD int64_t window_source(int64_t in, int64_t i, int64_t stride, int64_t pad, int64_t dil,
                            int64_t out) {
  const int64_t t = in + pad - i * dil;
  if (t < 0 || t % stride != 0) return -1;
  const int64_t o = t / stride;
  return o < out ? o : -1;
}

// d(loss)/dx at (iy, ix) of one plane: dy is the plane's [oh, ow] gradient, arg (max only) its
// argmax plane, or null for average pooling.
template <class T>
MP_HD float pool_grad_at(const T* dy, const int32_t* arg, int64_t w, int64_t oh, int64_t ow,
                         const Window2d& k, int64_t iy, int64_t ix) {
  const int32_t self = static_cast<int32_t>(iy * w + ix);
  float s = 0.0f;
  for (int64_t i = 0; i < k.kh; ++i) {
    const int64_t oy = window_source(iy, i, k.sh, k.ph, k.dh, oh);
    if (oy < 0) continue;
    for (int64_t j = 0; j < k.kw; ++j) {
      const int64_t ox = window_source(ix, j, k.sw, k.pw, k.dw, ow);
      if (ox < 0) continue;
      const int64_t o = oy * ow + ox;
      if (!arg || arg[o] == self) s += to_float(dy[o]);
    }
  }
  return arg ? s : s / static_cast<float>(k.kh * k.kw);
}

}  // namespace mp::kernels
