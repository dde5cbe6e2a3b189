// gemm_desc.cpp: resolve_gemm (gemm_desc.h): the GEMM argument checks and shape resolution
// shared by both engines.
#include "backend/gemm_desc.h"

namespace mp {

namespace {

std::string describe(bool ta, bool tb, const Tensor& A, const Tensor& B, const Tensor& C) {
  return std::string("A ") + A.describe() + (ta ? " (transposed)" : "") + ", B " + B.describe() +
         (tb ? " (transposed)" : "") + ", C " + C.describe();
}

}  // namespace

std::string gemm_operands(const GemmDesc& s, const Tensor& A, const Tensor& B, const Tensor& C) {
  return describe(s.trans_a, s.trans_b, A, B, C);
}

GemmDesc resolve_gemm(Device dev, bool ta, bool tb, const Tensor& A, const Tensor& B,
                      const Tensor& C, const Tensor* bias, bool batched) {
  MP_CHECK(A.defined() && B.defined() && C.defined(), "gemm: undefined operand");
  MP_CHECK(A.device() == dev && B.device() == dev && C.device() == dev,
           "gemm: operands must be " + std::string(device_name(dev)) +
               " tensors: " + describe(ta, tb, A, B, C));
  const DType ab = A.dtype();
  MP_CHECK(is_float(ab) && B.dtype() == ab,
           "gemm: A and B must share a float dtype: " + describe(ta, tb, A, B, C));
  MP_CHECK(C.dtype() == ab || C.dtype() == DType::F32,
           "gemm: C must have A's dtype or be fp32: " + describe(ta, tb, A, B, C));
  GemmDesc s;
  s.batched = batched;
  s.trans_a = ta;
  s.trans_b = tb;
  if (batched) {
    MP_CHECK(
        A.ndim() == 3 && B.ndim() == 3 && C.ndim() == 3,
        "gemm_batched: operands must be 3-D [batch, rows, cols]: " + describe(ta, tb, A, B, C));
    s.batch = A.dim(0);
    MP_CHECK(B.dim(0) == s.batch && C.dim(0) == s.batch,
             "gemm_batched: batch sizes differ: " + describe(ta, tb, A, B, C));
    s.a = {A.dim(1), A.dim(2)};
    s.b = {B.dim(1), B.dim(2)};
    s.c = {C.dim(1), C.dim(2)};
  } else {
    s.a = {A.rows(), A.cols()};
    s.b = {B.rows(), B.cols()};
    s.c = {C.rows(), C.cols()};
  }
  s.M = ta ? s.a.cols : s.a.rows;
  s.K = ta ? s.a.rows : s.a.cols;
  const int64_t kb = tb ? s.b.cols : s.b.rows;
  s.N = tb ? s.b.rows : s.b.cols;
  MP_CHECK(kb == s.K && s.c.rows == s.M && s.c.cols == s.N,
           "gemm: shapes do not chain (op(A) is " + std::to_string(s.M) + "x" +
               std::to_string(s.K) + ", op(B) is " + std::to_string(kb) + "x" +
               std::to_string(s.N) + ", C is " + std::to_string(s.c.rows) + "x" +
               std::to_string(s.c.cols) + "): " + describe(ta, tb, A, B, C));
  if (bias) {
    MP_CHECK(bias->defined() && bias->device() == dev && bias->numel() == s.N &&
                 (bias->dtype() == DType::F32 || bias->dtype() == C.dtype()),
             "gemm: bias must be a " + std::string(device_name(dev)) +
                 " tensor of N = " + std::to_string(s.N) + " elements, fp32 or C's dtype; got " +
                 (bias->defined() ? bias->describe() : std::string("an undefined tensor")));
  }
  return s;
}

}  // namespace mp
