// gemm_desc.h: a GEMM's operands resolved once, by Backend::gemm / gemm_batched (backend.cpp),
// into the plain shapes both engines build their descriptors from (oneDNN memory descriptors,
// cuBLASLt matrix layouts): M, N, K, the transposes, and each operand's stored row-major matrix
// with its leading dimension and batch stride. Operands are contiguous: a 2-D view of each is
// rows() x cols() (leading dims flattened); batched operands are 3-D [batch, rows, cols].
// Compiled by both g++ and nvcc (C++17).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>

#include "core/tensor.h"

namespace mp {

// One operand's matrix as stored: row-major [rows, cols], contiguous.
struct GemmMatrix {
  int64_t rows = 0, cols = 0;
  int64_t ld() const { return cols; }                   // elements between consecutive rows
  int64_t batch_stride() const { return rows * cols; }  // elements between a batch's matrices
};

struct GemmDesc {
  bool batched = false;  // gemm_batched
  int64_t batch = 0;     // matrices per operand (0 when not batched)
  int64_t M = 0, N = 0, K = 0;
  bool trans_a = false, trans_b = false;
  // As stored: a is [M, K] ([K, M] when trans_a), b is [K, N] ([N, K] when trans_b), c is [M, N].
  GemmMatrix a, b, c;
  bool empty() const { return M == 0 || N == 0 || (batched && batch == 0); }
};

// Checks a GEMM's operands on device `dev` (defined, on dev, A and B of one float dtype, C of that
// dtype or fp32, shapes that chain, the bias of N elements, fp32 or C's dtype) and resolves their
// shapes. A failure is an MP_CHECK naming the operands (gemm_operands).
GemmDesc resolve_gemm(Device dev, bool trans_a, bool trans_b, const Tensor& A, const Tensor& B,
                      const Tensor& C, const Tensor* bias, bool batched);

// Both engines cache a plan (primitive, cuBLASLt descriptors) per key: the shapes plus fields of
// their own. A key's hash starts from its shapes (FNV-1a over batch, M, N, K), and hash_mix adds
// each further field.
inline uint64_t hash_mix(uint64_t h, uint64_t v) { return (h ^ v) * 1099511628211ull; }
inline uint64_t hash_gemm_dims(int64_t batch, int64_t M, int64_t N, int64_t K) {
  uint64_t h = 1469598103934665603ull;
  for (int64_t v : {batch, M, N, K}) h = hash_mix(h, static_cast<uint64_t>(v));
  return h;
}

// "A bf16[64, 32] on cpu (transposed), B ..., C ...": the operands for an error message.
std::string gemm_operands(const GemmDesc& s, const Tensor& A, const Tensor& B, const Tensor& C);

}  // namespace mp
