// cpu_convert.h: bulk conversion between the float storage types and fp32 for the CPU backend,
// bit-identical to core/half.h's scalar to_float / from_float (round to nearest even): fp16 uses
// the F16C instructions (vcvtph2ps, vcvtps2ph with imm 0), bf16 AVX2 integer rounding (not
// AVX512-BF16's vcvtneps2bf16, which flushes subnormals).
// Every CPU op stages low-precision data through fp32 tiles with these, then runs kernels/ math
// on floats, so the math is the same and the rounding happens exactly once, at the store.
#pragma once
#include <cstdint>

#include "core/dtype.h"
#include "core/tensor.h"

namespace mp::cpu {

// dst[0..n) = fp32 values of the n elements at src (dtype dt: F32, F16 or BF16).
void load_floats(const void* src, DType dt, int64_t n, float* dst);
// dst (dtype dt) = src rounded to nearest even.
void store_floats(const float* src, DType dt, int64_t n, void* dst);

// Address of element i of t (any dtype).
inline char* elem_ptr(const Tensor& t, int64_t i) {
  return static_cast<char*>(t.raw()) + static_cast<size_t>(i) * dtype_size(t.dtype());
}

// fp32 view of elements [off, off + n) of t: t's own memory when it is fp32, else a converted
// copy in buf (n floats).
inline const float* f32_in(const Tensor& t, int64_t off, int64_t n, float* buf) {
  if (t.dtype() == DType::F32) return static_cast<const float*>(t.raw()) + off;
  load_floats(elem_ptr(t, off), t.dtype(), n, buf);
  return buf;
}

// Where to write fp32 results for elements [off, ...) of t: t itself when fp32, else buf, which
// f32_commit then rounds into t.
inline float* f32_out(const Tensor& t, int64_t off, float* buf) {
  return t.dtype() == DType::F32 ? static_cast<float*>(t.raw()) + off : buf;
}
inline void f32_commit(const Tensor& t, int64_t off, int64_t n, const float* vals) {
  if (t.dtype() != DType::F32) store_floats(vals, t.dtype(), n, elem_ptr(t, off));
}

}  // namespace mp::cpu
