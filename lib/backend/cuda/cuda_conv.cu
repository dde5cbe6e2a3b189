// cuda_conv.cu: CudaBackend's conv2d hooks by im2col + the backend GEMM (cuBLASLt, fp32 compute).
// Per group g (cg = c/groups input and kg = k/groups output channels):
//   col_g [n*oh*ow, cg*kh*kw] (D, zeros where the window leaves the image),
//   forward:  out_g [n*oh*ow, kg] (fp32) = col_g W_g^T + bias_g, then one rounding while
//             permuting into y [n, k, oh, ow];
//   weights:  dW_g += dy_g^T col_g (fp32, beta = 1), db_g += column sums of dy_g (bias_grad),
//             dy_g [n*oh*ow, kg] being dy's channels of the group, permuted (exact copy in D);
//   data:     dcol_g (fp32) = dy_g W_g, then col2im as a gather (each input element sums its
//             window taps in a fixed order, no atomics) with one rounding into dx.
// Index math only; the arithmetic is the GEMM's and the one rounding from core/half.h.
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_launch.cuh"
#include "kernels/pool.h"

namespace mp::cuda {

namespace {

struct Geo {
  int64_t n, c, h, w, k, cg, kg, kh, kw, oh, ow;
  Window2d win;
};

Geo geo(const Conv2dDesc& d) {
  return {d.n, d.c, d.h, d.w, d.k, d.c / d.groups, d.k / d.groups, d.win.kh, d.win.kw, d.oh, d.ow,
          d.win};
}

// col[r, q] for r = (s, oy, ox), q = (ci, i, j): x[s, c0 + ci, iy, ix] or 0.
template <class T>
__global__ void im2col_kernel(const T* x, T* col, Geo g, int64_t c0) {
  const int64_t cols = g.cg * g.kh * g.kw, ohw = g.oh * g.ow;
  MP_GRID_STRIDE(e, g.n * ohw * cols) {
    const int64_t r = e / cols, q = e % cols;
    const int64_t s = r / ohw, oy = (r % ohw) / g.ow, ox = r % g.ow;
    const int64_t ci = q / (g.kh * g.kw), i = (q / g.kw) % g.kh, j = q % g.kw;
    const int64_t iy = oy * g.win.sh - g.win.ph + i * g.win.dh;
    const int64_t ix = ox * g.win.sw - g.win.pw + j * g.win.dw;
    const bool in = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
    col[e] = in ? x[((s * g.c + c0 + ci) * g.h + iy) * g.w + ix] : from_float<T>(0.0f);
  }
}

// dx[s, c0 + ci, iy, ix] = RNE(sum of dcol over the taps that read it).
template <class T>
__global__ void col2im_kernel(const float* dcol, T* dx, Geo g, int64_t c0) {
  const int64_t cols = g.cg * g.kh * g.kw, ohw = g.oh * g.ow;
  MP_GRID_STRIDE(e, g.n * g.cg * g.h * g.w) {
    const int64_t ix = e % g.w, iy = (e / g.w) % g.h, ci = (e / (g.w * g.h)) % g.cg;
    const int64_t s = e / (g.w * g.h * g.cg);
    float acc = 0.0f;
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t oy = kernels::window_source(iy, i, g.win.sh, g.win.ph, g.win.dh, g.oh);
      if (oy < 0) continue;
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t ox = kernels::window_source(ix, j, g.win.sw, g.win.pw, g.win.dw, g.ow);
        if (ox < 0) continue;
        acc += dcol[(s * ohw + oy * g.ow + ox) * cols + (ci * g.kh + i) * g.kw + j];
      }
    }
    dx[((s * g.c + c0 + ci) * g.h + iy) * g.w + ix] = from_float<T>(acc);
  }
}

// out [n*ohw, kg] (fp32) -> y[s, k0 + o, p] rounded once.
template <class T>
__global__ void rows_to_nchw_kernel(const float* out, T* y, Geo g, int64_t k0) {
  const int64_t ohw = g.oh * g.ow;
  MP_GRID_STRIDE(e, g.n * ohw * g.kg) {
    const int64_t r = e / g.kg, o = e % g.kg, s = r / ohw, p = r % ohw;
    y[(s * g.k + k0 + o) * ohw + p] = from_float<T>(out[e]);
  }
}

// dy[s, k0 + o, p] -> rows [n*ohw, kg] (exact copy).
template <class T>
__global__ void nchw_to_rows_kernel(const T* dy, T* rows, Geo g, int64_t k0) {
  const int64_t ohw = g.oh * g.ow;
  MP_GRID_STRIDE(e, g.n * ohw * g.kg) {
    const int64_t r = e / g.kg, o = e % g.kg, s = r / ohw, p = r % ohw;
    rows[e] = dy[(s * g.k + k0 + o) * ohw + p];
  }
}

// The view of `n` elements of t starting at element `start`, as `shape`.
Tensor sub(const Tensor& t, int64_t start, const Shape& shape) {
  return t.flat_range(start, shape_numel(shape)).reshape(shape);
}

}  // namespace

void CudaBackend::conv2d_forward_impl(const Tensor& x, const Tensor& w, const Tensor* bias,
                                      Tensor& y, const Conv2dDesc& d) {
  const Geo g = geo(d);
  const int64_t rows = g.n * g.oh * g.ow, cols = g.cg * g.kh * g.kw;
  Tensor col = workspace(0, {rows, cols}, x.dtype());
  Tensor out = workspace(1, {rows, g.kg}, DType::F32);
  Tensor b32 = bias ? f32_copy(*bias, 2) : Tensor();
  cudaStream_t st = bound_stream();
  for (int64_t gi = 0; gi < d.groups; ++gi) {
    dispatch_float(x.dtype(), "conv2d_forward", [&](auto t) {
      using T = decltype(t);
      im2col_kernel<T><<<blocks_for(col.numel()), kThreads, 0, st>>>(ptr<T>(x), ptr<T>(col), g,
                                                                      gi * g.cg);
      MP_CUDA_LAUNCH_CHECK("im2col_kernel");
    });
    const Tensor wg = sub(w, gi * g.kg * cols, {g.kg, cols});
    const Tensor bg = bias ? sub(b32, gi * g.kg, {g.kg}) : Tensor();
    gemm(false, true, 1.0f, col, wg, 0.0f, out, bias ? &bg : nullptr);
    dispatch_float(y.dtype(), "conv2d_forward", [&](auto t) {
      using T = decltype(t);
      rows_to_nchw_kernel<T><<<blocks_for(out.numel()), kThreads, 0, st>>>(ptr<float>(out),
                                                                           ptr<T>(y), g, gi * g.kg);
      MP_CUDA_LAUNCH_CHECK("rows_to_nchw_kernel");
    });
  }
}

void CudaBackend::conv2d_backward_data_impl(const Tensor& dy, const Tensor& w, Tensor& dx,
                                            const Conv2dDesc& d) {
  const Geo g = geo(d);
  const int64_t rows = g.n * g.oh * g.ow, cols = g.cg * g.kh * g.kw;
  Tensor dyg = workspace(0, {rows, g.kg}, dy.dtype());
  Tensor dcol = workspace(1, {rows, cols}, DType::F32);
  cudaStream_t st = bound_stream();
  for (int64_t gi = 0; gi < d.groups; ++gi) {
    dispatch_float(dy.dtype(), "conv2d_backward_data", [&](auto t) {
      using T = decltype(t);
      nchw_to_rows_kernel<T><<<blocks_for(dyg.numel()), kThreads, 0, st>>>(ptr<T>(dy), ptr<T>(dyg),
                                                                           g, gi * g.kg);
      MP_CUDA_LAUNCH_CHECK("nchw_to_rows_kernel");
    });
    const Tensor wg = sub(w, gi * g.kg * cols, {g.kg, cols});
    gemm(false, false, 1.0f, dyg, wg, 0.0f, dcol);
    dispatch_float(dx.dtype(), "conv2d_backward_data", [&](auto t) {
      using T = decltype(t);
      col2im_kernel<T><<<blocks_for(g.n * g.cg * g.h * g.w), kThreads, 0, st>>>(
          ptr<float>(dcol), ptr<T>(dx), g, gi * g.cg);
      MP_CUDA_LAUNCH_CHECK("col2im_kernel");
    });
  }
}

void CudaBackend::conv2d_backward_weights_impl(const Tensor& x, const Tensor& dy, Tensor& dw,
                                               Tensor* db, const Conv2dDesc& d) {
  const Geo g = geo(d);
  const int64_t rows = g.n * g.oh * g.ow, cols = g.cg * g.kh * g.kw;
  Tensor col = workspace(0, {rows, cols}, x.dtype());
  Tensor dyg = workspace(1, {rows, g.kg}, dy.dtype());
  cudaStream_t st = bound_stream();
  for (int64_t gi = 0; gi < d.groups; ++gi) {
    dispatch_float(x.dtype(), "conv2d_backward_weights", [&](auto t) {
      using T = decltype(t);
      im2col_kernel<T><<<blocks_for(col.numel()), kThreads, 0, st>>>(ptr<T>(x), ptr<T>(col), g,
                                                                      gi * g.cg);
      MP_CUDA_LAUNCH_CHECK("im2col_kernel");
      nchw_to_rows_kernel<T><<<blocks_for(dyg.numel()), kThreads, 0, st>>>(ptr<T>(dy), ptr<T>(dyg),
                                                                           g, gi * g.kg);
      MP_CUDA_LAUNCH_CHECK("nchw_to_rows_kernel");
    });
    Tensor dwg = sub(dw, gi * g.kg * cols, {g.kg, cols});
    gemm(true, false, 1.0f, dyg, col, 1.0f, dwg);
    if (db) {
      Tensor dbg = sub(*db, gi * g.kg, {g.kg});
      bias_grad(dyg, dbg, 1.0f);
    }
  }
}

}  // namespace mp::cuda
