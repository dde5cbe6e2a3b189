// cuda_elementwise.cu: CudaBackend's elementwise ops, one grid-stride kernel each over the
// kernels/ element functions: fill, cast (kernels/cast.h), scale, add, accumulate, activation
// forward/backward (kernels/activations.h) and dropout forward/backward (kernels/dropout.h, keep
// mask from Philox(seed, offset, element index): the CPU's mask bit for bit). Loads widen to fp32,
// the math is fp32, and the store rounds once (core/half.h). In-place calls (output aliasing an
// input) are allowed: each thread reads its element before writing it.
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_launch.cuh"
#include "kernels/cast.h"
#include "kernels/dropout.h"

namespace mp::cuda {

namespace {

template <class T>
__global__ void fill_kernel(T* x, T v, int64_t n) {
  MP_GRID_STRIDE(i, n) x[i] = v;
}

template <class To, class Ti>
__global__ void cast_kernel(const Ti* src, To* dst, int64_t n) {
  MP_GRID_STRIDE(i, n) dst[i] = kernels::cast_element<To>(src[i]);
}

template <class T>
__global__ void scale_kernel(T* x, float alpha, int64_t n) {
  MP_GRID_STRIDE(i, n) x[i] = kernels::scale_element(x[i], alpha);
}

template <class T>
__global__ void add_kernel(const T* a, const T* b, T* out, int64_t n) {
  MP_GRID_STRIDE(i, n) out[i] = from_float<T>(to_float(a[i]) + to_float(b[i]));
}

template <class T, class Op>
__global__ void act_fwd_kernel(const T* x, T* y, int64_t n) {
  MP_GRID_STRIDE(i, n) y[i] = from_float<T>(Op::fwd(to_float(x[i])));
}

template <class T, class Op>
__global__ void act_bwd_kernel(const T* x, const T* dy, T* dx, int64_t n) {
  MP_GRID_STRIDE(i, n) dx[i] = from_float<T>(Op::bwd(to_float(x[i]), to_float(dy[i])));
}

template <class T>
__global__ void dropout_kernel(const T* x, T* y, float p, float scale, uint64_t seed,
                               uint64_t offset, int64_t n) {
  MP_GRID_STRIDE(i, n) {
    const bool keep = kernels::dropout_keep(seed, offset, static_cast<uint64_t>(i), p);
    y[i] = from_float<T>(kernels::dropout_apply(to_float(x[i]), keep, scale));
  }
}

}  // namespace

void CudaBackend::fill_impl(Tensor& x, float value) {
  const int64_t n = x.numel();
  if (n == 0) return;
  dispatch_float(x.dtype(), "fill", [&](auto tag) {
    using T = decltype(tag);
    fill_kernel<T><<<blocks_for(n), kThreads, 0, bound_stream()>>>(
        ptr<T>(x), from_float<T>(value), n);
    MP_CUDA_LAUNCH_CHECK("fill_kernel");
  });
}

void CudaBackend::cast_impl(const Tensor& src, Tensor& dst) {
  if (src.dtype() == dst.dtype()) {
    copy(src, dst);
    return;
  }
  const int64_t n = src.numel();
  if (n == 0) return;
  dispatch_float(dst.dtype(), "cast", [&](auto to_tag) {
    using To = decltype(to_tag);
    dispatch_float(src.dtype(), "cast", [&](auto from_tag) {
      using Ti = decltype(from_tag);
      cast_kernel<To, Ti>
          <<<blocks_for(n), kThreads, 0, bound_stream()>>>(ptr<const Ti>(src), ptr<To>(dst), n);
      MP_CUDA_LAUNCH_CHECK("cast_kernel");
    });
  });
}

void CudaBackend::scale_impl(Tensor& x, float alpha) {
  const int64_t n = x.numel();
  if (n == 0) return;
  dispatch_float(x.dtype(), "scale", [&](auto tag) {
    using T = decltype(tag);
    scale_kernel<T><<<blocks_for(n), kThreads, 0, bound_stream()>>>(ptr<T>(x), alpha, n);
    MP_CUDA_LAUNCH_CHECK("scale_kernel");
  });
}

void CudaBackend::add_impl(const Tensor& a, const Tensor& b, Tensor& out) {
  const int64_t n = a.numel();
  if (n == 0) return;
  if (!same_dtype({&a, &b, &out})) {  // mixed dtypes: through fp32 (exact loads, one rounding)
    const Tensor a32 = f32_copy(a), b32 = f32_copy(b);
    Tensor o32 = out.dtype() == DType::F32 ? out : empty(out.shape(), DType::F32);
    add(a32, b32, o32);
    if (o32.raw() != out.raw()) cast(o32, out);
    return;
  }
  dispatch_float(a.dtype(), "add", [&](auto tag) {
    using T = decltype(tag);
    add_kernel<T>
        <<<blocks_for(n), kThreads, 0, bound_stream()>>>(
            ptr<const T>(a), ptr<const T>(b), ptr<T>(out), n);
    MP_CUDA_LAUNCH_CHECK("add_kernel");
  });
}

void CudaBackend::accumulate_impl(const Tensor& src, Tensor& dst) {
  add(dst, src, dst);  // dst + src, as the CPU backend orders it
}

void CudaBackend::activation_forward_impl(Act act, const Tensor& x, Tensor& y) {
  const int64_t n = x.numel();
  if (n == 0) return;
  if (!same_dtype({&x, &y})) {
    const Tensor x32 = f32_copy(x);
    Tensor y32 = y.dtype() == DType::F32 ? y : empty(y.shape(), DType::F32);
    activation_forward(act, x32, y32);
    if (y32.raw() != y.raw()) cast(y32, y);
    return;
  }
  dispatch_float(x.dtype(), "activation_forward", [&](auto tag) {
    using T = decltype(tag);
    dispatch_act(act, "activation_forward", [&](auto op) {
      using Op = decltype(op);
      act_fwd_kernel<T, Op><<<blocks_for(n), kThreads, 0, bound_stream()>>>(
          ptr<const T>(x), ptr<T>(y), n);
      MP_CUDA_LAUNCH_CHECK("act_fwd_kernel");
    });
  });
}

void CudaBackend::activation_backward_impl(Act act, const Tensor& x, const Tensor& dy, Tensor& dx) {
  const int64_t n = x.numel();
  if (n == 0) return;
  if (!same_dtype({&x, &dy, &dx})) {
    const Tensor x32 = f32_copy(x), dy32 = f32_copy(dy);
    Tensor dx32 = dx.dtype() == DType::F32 ? dx : empty(dx.shape(), DType::F32);
    activation_backward(act, x32, dy32, dx32);
    if (dx32.raw() != dx.raw()) cast(dx32, dx);
    return;
  }
  dispatch_float(x.dtype(), "activation_backward", [&](auto tag) {
    using T = decltype(tag);
    dispatch_act(act, "activation_backward", [&](auto op) {
      using Op = decltype(op);
      act_bwd_kernel<T, Op><<<blocks_for(n), kThreads, 0, bound_stream()>>>(
          ptr<const T>(x), ptr<const T>(dy), ptr<T>(dx), n);
      MP_CUDA_LAUNCH_CHECK("act_bwd_kernel");
    });
  });
}

namespace {

// y = dropout(x); also the backward (dx from dy), which is the same map.
void dropout_map(CudaBackend& be, cudaStream_t stream, const Tensor& x, Tensor& y, float p,
                 uint64_t seed, uint64_t offset) {
  const int64_t n = x.numel();
  if (n == 0) return;
  if (!CudaBackend::same_dtype({&x, &y})) {
    const Tensor x32 = be.f32_copy(x);
    Tensor y32 = y.dtype() == DType::F32 ? y : be.empty(y.shape(), DType::F32);
    dropout_map(be, stream, x32, y32, p, seed, offset);
    if (y32.raw() != y.raw()) be.cast(y32, y);
    return;
  }
  const float scale = kernels::dropout_scale(p);
  dispatch_float(x.dtype(), "dropout", [&](auto tag) {
    using T = decltype(tag);
    dropout_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(ptr<const T>(x), ptr<T>(y), p, scale,
                                                              seed, offset, n);
    MP_CUDA_LAUNCH_CHECK("dropout_kernel");
  });
}

}  // namespace

void CudaBackend::dropout_forward_impl(const Tensor& x, Tensor& y, float p, uint64_t seed,
                                       uint64_t offset) {
  dropout_map(*this, bound_stream(), x, y, p, seed, offset);
}

void CudaBackend::dropout_backward_impl(const Tensor& dy, Tensor& dx, float p, uint64_t seed,
                                        uint64_t offset) {
  dropout_map(*this, bound_stream(), dy, dx, p, seed, offset);
}

}  // namespace mp::cuda
