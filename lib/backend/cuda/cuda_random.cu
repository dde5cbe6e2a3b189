// cuda_random.cu: CudaBackend::random_uniform and random_normal: element i of the Philox stream
// (seed, offset) via kernels/random.h, rounded once to the tensor's dtype. Uniform fills are the
// CPU backend's bit for bit (integer Philox, then the same fp32 arithmetic). Normal fills use
// Box-Muller with the device's logf/cosf/sqrtf, which may differ from glibc's by an ulp or two, so
// a normal value can differ from the CPU's in its last bits (the stream and the pairing are the
// same; never a different sample).
// Stores go through cuda_vec.cuh's vectorised map (16-byte stores, hardware conversions with
// core/half.h's bits); each element's value still comes from its own index. Uniform fills take
// their bits from the map's PhiloxMap runs (one Philox block per 4 elements, as philox_bits
// numbers them); a normal value needs its own block (Box-Muller on words 0 and 1 of block i of
// a separate counter, core/philox.h), so normal fills stay one block per element.
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_launch.cuh"
#include "backend/cuda/cuda_vec.cuh"
#include "kernels/random.h"

namespace mp::cuda {

namespace {

struct UniformF : PhiloxMap {  // kernels::uniform_element from the element's bits
  float lo, hi;
  __device__ float operator()(int64_t, float, float, uint32_t bits) const {
    return kernels::uniform_from_bits(bits, lo, hi);
  }
};

struct NormalF {
  float mean, stddev;
  uint64_t seed, offset;
  __device__ float operator()(int64_t i, float, float) const {
    return kernels::normal_element(seed, offset, static_cast<uint64_t>(i), mean, stddev);
  }
};

}  // namespace

void CudaBackend::random_uniform_impl(Tensor& x, float lo, float hi, uint64_t seed,
                                      uint64_t offset) {
  const int64_t n = x.numel();
  if (n == 0) return;
  dispatch_float(x.dtype(), "random_uniform", [&](auto tag) {
    using T = decltype(tag);
    launch_vec_map<0, T, T>(bound_stream(), nullptr, nullptr, ptr<T>(x), n,
                            UniformF{{seed, offset}, lo, hi}, "uniform_kernel");
  });
}

void CudaBackend::random_normal_impl(Tensor& x, float mean, float std, uint64_t seed,
                                     uint64_t offset) {
  const int64_t n = x.numel();
  if (n == 0) return;
  dispatch_float(x.dtype(), "random_normal", [&](auto tag) {
    using T = decltype(tag);
    launch_vec_map<0, T, T>(bound_stream(), nullptr, nullptr, ptr<T>(x), n,
                            NormalF{mean, std, seed, offset}, "normal_kernel");
  });
}

}  // namespace mp::cuda
