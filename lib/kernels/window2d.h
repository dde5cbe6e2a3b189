// window2d.h: the geometry of a 2-D sliding window (convolution and pooling over NCHW planes):
// kernel, stride, padding and dilation per axis, the output size PyTorch's formula gives
// (floor((in + 2 pad - dil (k - 1) - 1) / stride) + 1), and the conv/pool descriptors the Backend
// ops take. Plain structs, C++17 and MP_HD: nvcc compiles this header for the CUDA engine.
#pragma once
#include <stdint.h>

#include "core/hd.h"

namespace mp {

struct Window2d {
  int64_t kh = 1, kw = 1;  // kernel
  int64_t sh = 1, sw = 1;  // stride
  int64_t ph = 0, pw = 0;  // zero padding on both sides
  int64_t dh = 1, dw = 1;  // dilation (1 = dense)
};

// Output length along one axis; <= 0 when the (dilated) kernel does not fit the padded input.
MP_HD int64_t window_out(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil) {
  const int64_t span = in + 2 * pad - dil * (k - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

// A convolution over x [n, c, h, w] with weights [k, c / groups, kh, kw] and output
// [n, k, oh, ow]; each group of c / groups input channels feeds k / groups output channels.
struct Conv2dDesc {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input
  int64_t k = 0, groups = 1;           // output channels, groups
  Window2d win;
  int64_t oh = 0, ow = 0;  // output plane, from window_out
};

// Pooling over planes: x [n, c, h, w] -> y [n, c, oh, ow] (n * c independent planes).
struct Pool2dDesc {
  int64_t n = 0, c = 0, h = 0, w = 0;
  Window2d win;
  int64_t oh = 0, ow = 0;
};

inline Conv2dDesc make_conv2d_desc(int64_t n, int64_t c, int64_t h, int64_t w, int64_t k,
                                   int64_t groups, const Window2d& win) {
  Conv2dDesc d;
  d.n = n, d.c = c, d.h = h, d.w = w, d.k = k, d.groups = groups, d.win = win;
  d.oh = window_out(h, win.kh, win.sh, win.ph, win.dh);
  d.ow = window_out(w, win.kw, win.sw, win.pw, win.dw);
  return d;
}

inline Pool2dDesc make_pool2d_desc(int64_t n, int64_t c, int64_t h, int64_t w, const Window2d& win) {
  Pool2dDesc d;
  d.n = n, d.c = c, d.h = h, d.w = w, d.win = win;
  d.oh = window_out(h, win.kh, win.sh, win.ph, win.dh);
  d.ow = window_out(w, win.kw, win.sw, win.pw, win.dw);
  return d;
}

}  // namespace mp
