// cuda_vec.cuh: 128-bit vectorised elementwise maps for the CUDA backend (nvcc only).
//   out[i] = f(i, a[i], b[i]) for i < n, with 0, 1 or 2 inputs, computed in fp32 and rounded once
//   on store. Each thread moves K elements per step with one 16-byte (or 8-byte, for the narrower
//   side of a cast) load per input and one store; the elements before the first K-aligned index
//   (a view from flat_range may start anywhere) and after the last whole vector run scalar. When
//   the operands disagree on their alignment phase, everything runs scalar.
// Conversions use the hardware instructions (cvt.f32.f16, cvt.rn.f16x2.f32, cvt.rn.bf16x2.f32 on
// sm_80+), which round to nearest even as core/half.h does, bit for bit on every non-NaN value; a
// NaN is converted by core/half.h instead (the hardware returns the canonical NaN, core/half.h
// keeps sign and payload), so the results are the scalar kernels' to the bit.
// In-place maps (out aliasing an input) are allowed: every element is read and written by one
// thread, read first.
// A functor derived from PhiloxMap (dropout, uniform fills) also gets element i's 32 Philox bits
// (core/philox.h: word i % 4 of block i / 4 of its stream): a vector step takes its K elements'
// bits from philox_run, which computes each block they touch once (K / 4 blocks when
// i0 % 4 == 0, else K / 4 + 1) instead of one block per element; the scalar head and tail call
// philox_bits. The bits are philox_bits' exactly (tests/unit/core_philox.cpp checks philox_run).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include "backend/cuda/cuda_launch.cuh"
#include "core/half.h"
#include "core/philox.h"

namespace mp::cuda {

// ---- one element ----------------------------------------------------------------------------

__device__ __forceinline__ float load_f32(float x) { return x; }
__device__ __forceinline__ float load_f32(bfloat16 x) { return bf16_bits_to_float(x.bits); }
__device__ __forceinline__ float load_f32(half x) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x.bits));
  return f == f ? f : half_bits_to_float(x.bits);
}

// Two floats rounded to the 16-bit type T, packed (lo in the low half), as from_float<T> rounds.
template <class T> __device__ __forceinline__ uint32_t pack2(float lo, float hi);

template <> __device__ __forceinline__ uint32_t pack2<half>(float lo, float hi) {
  uint32_t d;
#if __CUDA_ARCH__ >= 800
  asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(d) : "f"(hi), "f"(lo));  // first source: high half
#else
  unsigned short l, h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(l) : "f"(lo));
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(hi));
  d = static_cast<uint32_t>(l) | (static_cast<uint32_t>(h) << 16);
#endif
  if (lo != lo || hi != hi)
    d = static_cast<uint32_t>(float_to_half_bits(lo)) |
        (static_cast<uint32_t>(float_to_half_bits(hi)) << 16);
  return d;
}

template <> __device__ __forceinline__ uint32_t pack2<bfloat16>(float lo, float hi) {
#if __CUDA_ARCH__ >= 800
  uint32_t d;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(d) : "f"(hi), "f"(lo));  // first source: high half
  if (lo == lo && hi == hi) return d;
#endif
  // A NaN (or no bf16 conversion before sm_80): core/half.h's rounding.
  return static_cast<uint32_t>(float_to_bf16_bits(lo)) |
         (static_cast<uint32_t>(float_to_bf16_bits(hi)) << 16);
}

template <class T> __device__ __forceinline__ T store_as(float x) {
  if constexpr (sizeof(T) == 4) {
    return x;
  } else {
    return T::from_bits(static_cast<uint16_t>(pack2<T>(x, 0.0f) & 0xffffu));
  }
}

// ---- K elements -------------------------------------------------------------------------------

template <int Bytes> struct RawVec;
template <> struct RawVec<16> { using type = uint4; };
template <> struct RawVec<8> { using type = uint2; };

// K elements of T as one aligned machine word of K * sizeof(T) bytes.
template <class T, int K> union Pack {
  using Raw = typename RawVec<K * static_cast<int>(sizeof(T))>::type;
  Raw raw;
  T v[K];
  uint32_t w[K * sizeof(T) / 4];
};

template <int K, class T> __device__ __forceinline__ void load_pack(const T* p, float* f) {
  Pack<T, K> pk;
  pk.raw = *reinterpret_cast<const typename Pack<T, K>::Raw*>(p);
#pragma unroll
  for (int k = 0; k < K; ++k) f[k] = load_f32(pk.v[k]);
}

template <int K, class T> __device__ __forceinline__ void store_pack(T* p, const float* f) {
  Pack<T, K> pk;
  if constexpr (sizeof(T) == 4) {
#pragma unroll
    for (int k = 0; k < K; ++k) pk.v[k] = f[k];
  } else {
#pragma unroll
    for (int k = 0; k < K; k += 2) pk.w[k / 2] = pack2<T>(f[k], f[k + 1]);
  }
  *reinterpret_cast<typename Pack<T, K>::Raw*>(p) = pk.raw;
}

// ---- the map ------------------------------------------------------------------------------------

// Elements per vector step: 16 bytes of the wider of the two types.
template <class To, class Ti> constexpr int vec_width() {
  return 16 / static_cast<int>(sizeof(To) > sizeof(Ti) ? sizeof(To) : sizeof(Ti));
}

// The vector steps cover [head, head + K * nv); head is where every operand reaches a K-element
// boundary of its own address (n: no such common index, the whole map runs scalar).
struct Operand {
  const void* p;
  size_t elem;
};
inline int64_t vec_head(int64_t n, int k, std::initializer_list<Operand> ops) {
  int64_t head = -1;
  for (const Operand& o : ops) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(o.p);
    if (a % o.elem != 0) return n;
    const int64_t phase = static_cast<int64_t>((a / o.elem) % static_cast<uintptr_t>(k));
    const int64_t h = (k - phase) % k;
    if (head >= 0 && h != head) return n;
    head = h;
  }
  return head < 0 || head > n ? n : head;
}

// ---- Philox bits for a run of elements ------------------------------------------------------

// Base of the functors that take element i's Philox bits: f(i, a, b, bits) with
// bits = philox_bits(seed, off(), i): offset, plus *offset_base when given (a device int64 read
// at execution: dropout's stream position under a replayed CUDA graph).
struct PhiloxMap {
  uint64_t seed, offset;
  const int64_t* offset_base = nullptr;
  __device__ uint64_t off() const {
    return offset_base ? offset + static_cast<uint64_t>(*offset_base) : offset;
  }
};

template <class F> constexpr bool kTakesBits = std::is_base_of_v<PhiloxMap, F>;

// out[i] = f(i, a[i], b[i]) (NIn inputs; the missing ones read as 0), or f(i, a[i], b[i], bits)
// for a PhiloxMap functor.
template <int K, int NIn, class To, class Ti, class F>
__global__ void vec_map_kernel(const Ti* a, const Ti* b, To* out, int64_t n, int64_t head, F f) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t nv = (n - head) / K, tail = head + nv * K;
  for (int64_t v = t; v < nv; v += stride) {
    const int64_t i0 = head + v * K;
    float xa[K] = {}, xb[K] = {}, y[K];
    if (NIn > 0) load_pack<K>(a + i0, xa);
    if (NIn > 1) load_pack<K>(b + i0, xb);
    if constexpr (kTakesBits<F>) {
      uint32_t bits[K];
      philox_run<K>(f.seed, f.off(), static_cast<uint64_t>(i0), bits);
#pragma unroll
      for (int k = 0; k < K; ++k) y[k] = f(i0 + k, xa[k], xb[k], bits[k]);
    } else {
#pragma unroll
      for (int k = 0; k < K; ++k) y[k] = f(i0 + k, xa[k], xb[k]);
    }
    store_pack<K>(out + i0, y);
  }
  // The scalar elements: [0, head) and [tail, n).
  const int64_t scalar = head + (n - tail);
  for (int64_t j = t; j < scalar; j += stride) {
    const int64_t i = j < head ? j : tail + (j - head);
    const float va = NIn > 0 ? load_f32(a[i]) : 0.0f, vb = NIn > 1 ? load_f32(b[i]) : 0.0f;
    if constexpr (kTakesBits<F>)
      out[i] = store_as<To>(f(i, va, vb, philox_bits(f.seed, f.off(), static_cast<uint64_t>(i))));
    else
      out[i] = store_as<To>(f(i, va, vb));
  }
}

// Launches the map on `stream`; `name` names the kernel in a launch error.
template <int NIn, class To, class Ti, class F>
void launch_vec_map(cudaStream_t stream, const Ti* a, const Ti* b, To* out, int64_t n, F f,
                    const char* name) {
  if (n == 0) return;
  constexpr int K = vec_width<To, Ti>();
  int64_t head;
  if (NIn == 0) head = vec_head(n, K, {{out, sizeof(To)}});
  else if (NIn == 1) head = vec_head(n, K, {{a, sizeof(Ti)}, {out, sizeof(To)}});
  else head = vec_head(n, K, {{a, sizeof(Ti)}, {b, sizeof(Ti)}, {out, sizeof(To)}});
  const int64_t steps = (n - head) / K + (head + (n - head) % K);
  vec_map_kernel<K, NIn, To, Ti, F><<<blocks_for(steps), kThreads, 0, stream>>>(a, b, out, n, head, f);
  MP_CUDA_LAUNCH_CHECK(name);
}

}  // namespace mp::cuda
