// cuda_pool.cu: CudaBackend's pooling and GroupNorm hooks over kernels/pool.h and
// kernels/group_norm.h. Pooling: one thread per output element (forward) or per input element
// (backward, a gather over the windows that hold it: deterministic, no atomics).
// GroupNorm: one thread per (sample, group) row running the kernels/ row functions (the rows of a
// small CNN are short), per-row channel sums for dgamma/dbeta into an [n][c] fp32 scratch, then
// one thread per channel adds them in sample order (fp64), as the CPU engine does.
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_launch.cuh"
#include "kernels/group_norm.h"
#include "kernels/pool.h"

namespace mp::cuda {

namespace {

template <class T>
__global__ void pool_fwd_kernel(const T* x, T* y, int32_t* arg, Pool2dDesc d) {
  const int64_t out = d.oh * d.ow, in = d.h * d.w;
  MP_GRID_STRIDE(e, d.n * d.c * out) {
    const int64_t p = e / out, oy = (e % out) / d.ow, ox = e % d.ow;
    const T* xp = x + p * in;
    const float v = arg ? kernels::max_pool_at(xp, d.h, d.w, d.win, oy, ox, arg + e)
                        : kernels::avg_pool_at(xp, d.h, d.w, d.win, oy, ox);
    y[e] = from_float<T>(v);
  }
}

template <class T>
__global__ void pool_bwd_kernel(const T* dy, const int32_t* arg, T* dx, Pool2dDesc d) {
  const int64_t out = d.oh * d.ow, in = d.h * d.w;
  MP_GRID_STRIDE(e, d.n * d.c * in) {
    const int64_t p = e / in, iy = (e % in) / d.w, ix = e % d.w;
    dx[e] = from_float<T>(kernels::pool_grad_at(dy + p * out, arg ? arg + p * out : nullptr, d.w,
                                                d.oh, d.ow, d.win, iy, ix));
  }
}

template <class T>
__global__ void gn_fwd_kernel(const T* x, const float* gamma, const float* beta, int64_t groups,
                              int64_t c, int64_t cg, int64_t hw, float eps, T* y, float* mean,
                              float* rstd, int64_t rows) {
  MP_GRID_STRIDE(r, rows) {
    const int64_t c0 = (r % groups) * cg, off = r * cg * hw;
    const kernels::RowStats s =
        kernels::group_norm_row_forward(x + off, gamma + c0, beta + c0, cg, hw, eps, y + off);
    mean[r] = s.mean;
    rstd[r] = s.rstd;
  }
}

template <class T>
__global__ void gn_bwd_kernel(const T* dy, const T* x, const float* gamma, int64_t groups,
                              int64_t c, int64_t cg, int64_t hw, const float* mean,
                              const float* rstd, T* dx, float* pg, float* pb, int64_t rows) {
  MP_GRID_STRIDE(r, rows) {
    const int64_t c0 = (r % groups) * cg, off = r * cg * hw, s = r / groups;
    kernels::group_norm_row_backward(dy + off, x + off, gamma + c0,
                                     kernels::RowStats{mean[r], rstd[r]}, cg, hw, dx + off,
                                     pg + s * c + c0, pb + s * c + c0);
  }
}

__global__ void gn_param_grad_kernel(const float* pg, const float* pb, int64_t n, int64_t c,
                                     float* dgamma, float* dbeta) {
  MP_GRID_STRIDE(ch, c) {
    double sg = 0.0, sb = 0.0;
    for (int64_t s = 0; s < n; ++s) {
      sg += pg[s * c + ch];
      sb += pb[s * c + ch];
    }
    dgamma[ch] = static_cast<float>(dgamma[ch] + sg);
    dbeta[ch] = static_cast<float>(dbeta[ch] + sb);
  }
}

}  // namespace

void CudaBackend::pool2d_forward_impl(bool max, const Tensor& x, Tensor& y, Tensor* argmax,
                                      const Pool2dDesc& d) {
  cudaStream_t st = bound_stream();
  dispatch_float(x.dtype(), "pool2d_forward", [&](auto t) {
    using T = decltype(t);
    pool_fwd_kernel<T><<<blocks_for(y.numel()), kThreads, 0, st>>>(
        ptr<T>(x), ptr<T>(y), max ? ptr<int32_t>(*argmax) : nullptr, d);
    MP_CUDA_LAUNCH_CHECK("pool_fwd_kernel");
  });
}

void CudaBackend::pool2d_backward_impl(const Tensor& dy, const Tensor* argmax, Tensor& dx,
                                       const Pool2dDesc& d) {
  cudaStream_t st = bound_stream();
  dispatch_float(dx.dtype(), "pool2d_backward", [&](auto t) {
    using T = decltype(t);
    pool_bwd_kernel<T><<<blocks_for(dx.numel()), kThreads, 0, st>>>(
        ptr<T>(dy), argmax ? ptr<int32_t>(*argmax) : nullptr, ptr<T>(dx), d);
    MP_CUDA_LAUNCH_CHECK("pool_bwd_kernel");
  });
}

void CudaBackend::group_norm_forward_impl(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                          int64_t groups, float eps, Tensor& y, Tensor& mean,
                                          Tensor& rstd) {
  const int64_t n = x.dim(0), c = x.dim(1), hw = x.numel() / (n * c), rows = n * groups;
  const Tensor g32 = f32_copy(gamma, 0), b32 = f32_copy(beta, 1);
  cudaStream_t st = bound_stream();
  dispatch_float(x.dtype(), "group_norm_forward", [&](auto t) {
    using T = decltype(t);
    gn_fwd_kernel<T><<<blocks_for(rows), kThreads, 0, st>>>(
        ptr<T>(x), ptr<float>(g32), ptr<float>(b32), groups, c, c / groups, hw, eps, ptr<T>(y),
        ptr<float>(mean), ptr<float>(rstd), rows);
    MP_CUDA_LAUNCH_CHECK("gn_fwd_kernel");
  });
}

void CudaBackend::group_norm_backward_impl(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                           int64_t groups, const Tensor& mean, const Tensor& rstd,
                                           Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  const int64_t n = x.dim(0), c = x.dim(1), hw = x.numel() / (n * c), rows = n * groups;
  const Tensor g32 = f32_copy(gamma, 0);
  Tensor part = workspace(1, {2, n, c}, DType::F32);
  float* pg = ptr<float>(part);
  cudaStream_t st = bound_stream();
  dispatch_float(x.dtype(), "group_norm_backward", [&](auto t) {
    using T = decltype(t);
    gn_bwd_kernel<T><<<blocks_for(rows), kThreads, 0, st>>>(
        ptr<T>(dy), ptr<T>(x), ptr<float>(g32), groups, c, c / groups, hw, ptr<float>(mean),
        ptr<float>(rstd), ptr<T>(dx), pg, pg + n * c, rows);
    MP_CUDA_LAUNCH_CHECK("gn_bwd_kernel");
  });
  gn_param_grad_kernel<<<blocks_for(c), kThreads, 0, st>>>(pg, pg + n * c, n, c,
                                                           ptr<float>(dgamma), ptr<float>(dbeta));
  MP_CUDA_LAUNCH_CHECK("gn_param_grad_kernel");
}

}  // namespace mp::cuda
