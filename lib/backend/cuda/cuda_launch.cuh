// cuda_launch.cuh: launch helpers shared by the CUDA backend's kernel files (nvcc only):
//   grid-stride loops and launch sizes, dtype -> storage type dispatch, Act -> kernels/ functor
//   dispatch, and warp/block reductions (fixed butterfly order, so results are deterministic).
// No math lives here: kernels call kernels/ and core/half.h for every value they compute.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "backend/backend.h"
#include "backend/cuda/cuda_check.h"
#include "core/half.h"
#include "kernels/activations.h"

namespace mp::cuda {

constexpr int kThreads = 256;         // threads per block of elementwise and column kernels
constexpr int64_t kMaxBlocks = 8192;  // grid-stride loops cover the rest
constexpr int kWarp = 32;
constexpr int kRowsPerBlock = kThreads / kWarp;  // row kernels: one warp per row

// for (i = global thread index; i < n; i += all threads)
#define MP_GRID_STRIDE(i, n)                                                             \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

inline unsigned blocks_for(int64_t n, int64_t per_block = kThreads) {
  int64_t b = (n + per_block - 1) / per_block;
  if (b < 1) b = 1;
  if (b > kMaxBlocks) b = kMaxBlocks;
  return static_cast<unsigned>(b);
}

// Rows handled one warp each, kRowsPerBlock per block.
inline unsigned row_blocks(int64_t rows) {
  return static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock);
}

// f(T{}) with T the storage type of float dtype dt.
template <class F>
void dispatch_float(DType dt, const char* op, F&& f) {
  switch (dt) {
    case DType::F32: f(float{}); return;
    case DType::F16: f(half{}); return;
    case DType::BF16: f(bfloat16{}); return;
    default: break;
  }
  MP_CHECK(false, std::string(op) + ": not a float dtype: " + std::string(dtype_name(dt)));
}

// f(Op{}) with Op the kernels/activations.h functor of act.
template <class F>
void dispatch_act(Act act, const char* op, F&& f) {
  using namespace kernels;
  switch (act) {
    case Act::Identity: f(ActIdentity{}); return;
    case Act::Relu: f(ActRelu{}); return;
    case Act::GeluTanh: f(ActGeluTanh{}); return;
    case Act::GeluExact: f(ActGeluExact{}); return;
    case Act::Tanh: f(ActTanh{}); return;
    case Act::Sigmoid: f(ActSigmoid{}); return;
    case Act::Silu: f(ActSilu{}); return;
  }
  MP_CHECK(false, std::string(op) + ": unknown activation " + std::to_string(int(act)));
}

template <class T>
T* ptr(const Tensor& t) {
  return static_cast<T*>(t.raw());
}

// ---- warp and block reductions (butterfly: every lane ends with the same, order-fixed value) ----

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ double warp_sum(double v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ int64_t warp_sum(int64_t v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Largest value; NaN never wins (v > m fails), as in kernels/row_reduce.h's row_max.
__device__ __forceinline__ float warp_max(float v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) {
    const float w = __shfl_xor_sync(0xffffffffu, v, o);
    v = w > v ? w : v;
  }
  return v;
}

// Sum over a block of kThreads threads; every thread gets the result. `smem` holds kRowsPerBlock
// values; the block must call it uniformly.
template <class V>
__device__ V block_sum(V v, V* smem) {
  const int lane = threadIdx.x % kWarp, wid = threadIdx.x / kWarp;
  v = warp_sum(v);
  __syncthreads();  // smem may still be read by a previous call
  if (lane == 0) smem[wid] = v;
  __syncthreads();
  V t = lane < kRowsPerBlock ? smem[lane] : V(0);
  return warp_sum(t);
}

// Max over a block (NaN-skipping, starting from `init`); every thread gets the result.
__device__ __forceinline__ float block_max(float v, float* smem, float init) {
  const int lane = threadIdx.x % kWarp, wid = threadIdx.x / kWarp;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) smem[wid] = v;
  __syncthreads();
  const float t = lane < kRowsPerBlock ? smem[lane] : init;
  return warp_max(t);
}

// The contiguous chunk [begin, end) of a row of n elements that `lane` reduces: the row's
// kernels/ reductions (row_sum, ...) run per chunk, and the 32 partials are then combined in the
// butterfly's fixed order.
struct LaneChunk {
  int64_t begin, len;
};
__device__ __forceinline__ LaneChunk lane_chunk(int64_t n, int lane) {
  const int64_t chunk = (n + kWarp - 1) / kWarp;
  int64_t b = chunk * lane;
  if (b > n) b = n;
  int64_t e = b + chunk;
  if (e > n) e = n;
  return {b, e - b};
}

// Column sums of per-block partials (cuda_reduce.cu), for bias_grad and layernorm dgamma/dbeta:
// for j < n, s_j = sum over b < blocks, in order and in fp64, of part[b * stride + j], then
//   out[j] = beta != 0 ? float(double(beta) * out[j] + s_j) : float(s_j)   (the CPU's formula).
void launch_colsum_finish(cudaStream_t stream, const float* part, int64_t blocks, int64_t stride,
                          int64_t n, float beta, float* out);

}  // namespace mp::cuda
