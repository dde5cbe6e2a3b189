// cuda_elementwise.cu: CudaBackend's elementwise ops, each a vectorised map (cuda_vec.cuh: 16-byte
// loads and stores, scalar head and tail for views that start or end off a vector boundary) over
// the kernels/ element functions: fill, cast (kernels/cast.h), scale, add, accumulate, activation
// forward/backward (kernels/activations.h) and dropout forward/backward (kernels/dropout.h, keep
// mask from Philox(seed, offset, element index): the CPU's mask bit for bit; one Philox block per
// 4 elements, cuda_vec.cuh's PhiloxMap). Loads widen to fp32,
// the math is fp32, and the store rounds once with the hardware conversion (core/half.h's bits).
// In-place calls (output aliasing an input) are allowed: each thread reads its element before
// writing it.
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_launch.cuh"
#include "backend/cuda/cuda_vec.cuh"
#include "kernels/cast.h"
#include "kernels/dropout.h"

namespace mp::cuda {

namespace {

// The element functions, as functors f(i, a, b) of the element index and fp32 operands; each is
// the scalar kernel's math (from_float<T>(math(to_float(...)))) without its load and store.
struct FillF {
  float v;
  __device__ float operator()(int64_t, float, float) const { return v; }
};
struct CastF {  // kernels::cast_element: exact load, one rounding on store
  __device__ float operator()(int64_t, float x, float) const { return x; }
};
struct ScaleF {  // kernels::scale_element
  float alpha;
  __device__ float operator()(int64_t, float x, float) const { return x * alpha; }
};
struct AddF {
  __device__ float operator()(int64_t, float a, float b) const { return a + b; }
};
template <class Op> struct ActFwdF {
  __device__ float operator()(int64_t, float x, float) const { return Op::fwd(x); }
};
template <class Op> struct ActBwdF {
  __device__ float operator()(int64_t, float x, float dy) const { return Op::bwd(x, dy); }
};
struct DropoutF : PhiloxMap {  // the mask of element i of the tensor, from its Philox bits
  float p, scale;
  __device__ float operator()(int64_t, float x, float, uint32_t bits) const {
    return kernels::dropout_apply(x, kernels::dropout_keep_bits(bits, p), scale);
  }
};

}  // namespace

void CudaBackend::fill_impl(Tensor& x, float value) {
  const int64_t n = x.numel();
  if (n == 0) return;
  dispatch_float(x.dtype(), "fill", [&](auto tag) {
    using T = decltype(tag);
    launch_vec_map<0, T, T>(bound_stream(), nullptr, nullptr, ptr<T>(x), n, FillF{value},
                            "fill_kernel");
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
      launch_vec_map<1, To, Ti>(bound_stream(), ptr<const Ti>(src), nullptr, ptr<To>(dst), n,
                                CastF{}, "cast_kernel");
    });
  });
}

void CudaBackend::scale_impl(Tensor& x, float alpha) {
  const int64_t n = x.numel();
  if (n == 0) return;
  dispatch_float(x.dtype(), "scale", [&](auto tag) {
    using T = decltype(tag);
    launch_vec_map<1, T, T>(bound_stream(), ptr<const T>(x), nullptr, ptr<T>(x), n,
                            ScaleF{alpha}, "scale_kernel");
  });
}

void CudaBackend::add_impl(const Tensor& a, const Tensor& b, Tensor& out) {
  const int64_t n = a.numel();
  if (n == 0) return;
  if (!same_dtype({&a, &b, &out})) {  // mixed dtypes: through fp32 (exact loads, one rounding)
    const Tensor a32 = f32_copy(a, 0), b32 = f32_copy(b, 1);
    Tensor o32 = out.dtype() == DType::F32 ? out : workspace(2, out.shape(), DType::F32);
    add(a32, b32, o32);
    if (o32.raw() != out.raw()) cast(o32, out);
    return;
  }
  dispatch_float(a.dtype(), "add", [&](auto tag) {
    using T = decltype(tag);
    launch_vec_map<2, T, T>(bound_stream(), ptr<const T>(a), ptr<const T>(b), ptr<T>(out), n,
                            AddF{}, "add_kernel");
  });
}

void CudaBackend::accumulate_impl(const Tensor& src, Tensor& dst) {
  add(dst, src, dst);  // dst + src, as the CPU backend orders it
}

void CudaBackend::activation_forward_impl(Act act, const Tensor& x, Tensor& y) {
  const int64_t n = x.numel();
  if (n == 0) return;
  if (!same_dtype({&x, &y})) {
    const Tensor x32 = f32_copy(x, 0);
    Tensor y32 = y.dtype() == DType::F32 ? y : workspace(1, y.shape(), DType::F32);
    activation_forward(act, x32, y32);
    if (y32.raw() != y.raw()) cast(y32, y);
    return;
  }
  dispatch_float(x.dtype(), "activation_forward", [&](auto tag) {
    using T = decltype(tag);
    dispatch_act(act, "activation_forward", [&](auto op) {
      using Op = decltype(op);
      launch_vec_map<1, T, T>(bound_stream(), ptr<const T>(x), nullptr, ptr<T>(y), n,
                              ActFwdF<Op>{}, "act_fwd_kernel");
    });
  });
}

void CudaBackend::activation_backward_impl(Act act, const Tensor& x, const Tensor& dy, Tensor& dx) {
  const int64_t n = x.numel();
  if (n == 0) return;
  if (!same_dtype({&x, &dy, &dx})) {
    const Tensor x32 = f32_copy(x, 0), dy32 = f32_copy(dy, 1);
    Tensor dx32 = dx.dtype() == DType::F32 ? dx : workspace(2, dx.shape(), DType::F32);
    activation_backward(act, x32, dy32, dx32);
    if (dx32.raw() != dx.raw()) cast(dx32, dx);
    return;
  }
  dispatch_float(x.dtype(), "activation_backward", [&](auto tag) {
    using T = decltype(tag);
    dispatch_act(act, "activation_backward", [&](auto op) {
      using Op = decltype(op);
      launch_vec_map<2, T, T>(bound_stream(), ptr<const T>(x), ptr<const T>(dy), ptr<T>(dx), n,
                              ActBwdF<Op>{}, "act_bwd_kernel");
    });
  });
}

namespace {

// y = dropout(x); also the backward (dx from dy), which is the same map.
void dropout_map(CudaBackend& be, cudaStream_t stream, const Tensor& x, Tensor& y, float p,
                 uint64_t seed, uint64_t offset, const Tensor* base) {
  const int64_t n = x.numel();
  if (n == 0) return;
  if (!CudaBackend::same_dtype({&x, &y})) {
    const Tensor x32 = be.f32_copy(x, 0);
    Tensor y32 = y.dtype() == DType::F32 ? y : be.workspace(1, y.shape(), DType::F32);
    dropout_map(be, stream, x32, y32, p, seed, offset, base);
    if (y32.raw() != y.raw()) be.cast(y32, y);
    return;
  }
  const float scale = kernels::dropout_scale(p);
  dispatch_float(x.dtype(), "dropout", [&](auto tag) {
    using T = decltype(tag);
    launch_vec_map<1, T, T>(stream, ptr<const T>(x), nullptr, ptr<T>(y), n,
                            DropoutF{{seed, offset, base ? ptr<const int64_t>(*base) : nullptr},
                                     p, scale},
                            "dropout_kernel");
  });
}

}  // namespace

void CudaBackend::dropout_forward_impl(const Tensor& x, Tensor& y, float p, uint64_t seed,
                                       uint64_t offset, const Tensor* offset_base) {
  dropout_map(*this, bound_stream(), x, y, p, seed, offset, offset_base);
}

void CudaBackend::dropout_backward_impl(const Tensor& dy, Tensor& dx, float p, uint64_t seed,
                                        uint64_t offset, const Tensor* offset_base) {
  dropout_map(*this, bound_stream(), dy, dx, p, seed, offset, offset_base);
}

}  // namespace mp::cuda
