// backend_relu16.cpp: ReLU forward/backward on fp16 and bf16 tensors (the CPU backend works on
// the bit patterns there) against the fp32 round trip of kernels/activations.h, bit for bit, for
// every 16-bit pattern of x and of dy (NaNs, infinities, signed zeros, subnormals included).
#include <doctest/doctest.h>

#include "core/half.h"
#include "kernels/activations.h"
#include "unit/backend_test_util.h"

using namespace mp;
using namespace mp::test;

namespace {

float to_f(uint16_t b, DType dt) {
  return dt == DType::BF16 ? bf16_bits_to_float(b) : half_bits_to_float(b);
}
uint16_t from_f(float f, DType dt) {
  return dt == DType::BF16 ? float_to_bf16_bits(f) : float_to_half_bits(f);
}

Tensor bits_tensor(Backend& be, const std::vector<uint16_t>& v, DType dt) {
  Tensor t = be.empty({static_cast<int64_t>(v.size())}, dt);
  be.upload(v.data(), t);
  return t;
}

std::vector<uint16_t> bits_of(Backend& be, const Tensor& t) {
  std::vector<uint16_t> v(static_cast<size_t>(t.numel()));
  be.download(t, v.data());
  return v;
}

std::vector<uint16_t> all_patterns() {
  std::vector<uint16_t> v(65536);
  for (uint32_t i = 0; i < 65536; ++i) v[i] = static_cast<uint16_t>(i);
  return v;
}

}  // namespace

TEST_CASE("relu forward on fp16/bf16: every bit pattern as the fp32 round trip") {
  Backend& be = cpu_be();
  for (DType dt : {DType::BF16, DType::F16}) {
    CAPTURE(dtype_name(dt));
    const std::vector<uint16_t> x = all_patterns();
    Tensor tx = bits_tensor(be, x, dt), ty = be.empty(tx.shape(), dt);
    be.activation_forward(Act::Relu, tx, ty);
    const std::vector<uint16_t> y = bits_of(be, ty);
    int bad = 0;
    for (size_t i = 0; i < x.size() && bad < 5; ++i) {
      const uint16_t want = from_f(kernels::ActRelu::fwd(to_f(x[i], dt)), dt);
      if (y[i] != want) {
        ++bad;
        FAIL_CHECK("x bits 0x" << std::hex << x[i] << ": got 0x" << y[i] << ", want 0x" << want);
      }
    }
    be.activation_forward(Act::Relu, tx, tx);  // in place
    CHECK(bits_of(be, tx) == y);
  }
}

TEST_CASE("relu backward on fp16/bf16: every bit pattern of x and of dy as the fp32 round trip") {
  Backend& be = cpu_be();
  for (DType xdt : {DType::BF16, DType::F16})
    for (DType gdt : {DType::BF16, DType::F16}) {
      CAPTURE(dtype_name(xdt));
      CAPTURE(dtype_name(gdt));
      // every x against a few dy, and every dy against a few x (positive, zero, negative, NaN)
      const std::vector<uint16_t> all = all_patterns();
      const uint16_t some[] = {0x0000, 0x8000, 0x3c00, 0xbc00, 0x0001, 0x7c00, 0x7e01,
                               0x7c01, 0x3f80, 0x7f80, 0x7fc1, 0x7f81, 0xff81, 0x0080};
      for (int pass = 0; pass < 2; ++pass) {
        std::vector<uint16_t> x, dy;
        for (uint16_t s : some)
          for (uint16_t a : all) {
            x.push_back(pass == 0 ? a : s);
            dy.push_back(pass == 0 ? s : a);
          }
        Tensor tx = bits_tensor(be, x, xdt), tdy = bits_tensor(be, dy, gdt);
        Tensor tdx = be.empty(tdy.shape(), gdt);
        be.activation_backward(Act::Relu, tx, tdy, tdx);
        const std::vector<uint16_t> got = bits_of(be, tdx);
        int bad = 0;
        for (size_t i = 0; i < x.size() && bad < 5; ++i) {
          const uint16_t want =
              from_f(kernels::ActRelu::bwd(to_f(x[i], xdt), to_f(dy[i], gdt)), gdt);
          if (got[i] != want) {
            ++bad;
            FAIL_CHECK("x 0x" << std::hex << x[i] << " dy 0x" << dy[i] << ": got 0x" << got[i]
                              << ", want 0x" << want);
          }
        }
        be.activation_backward(Act::Relu, tx, tdy, tdy);  // in place (dx aliases dy)
        CHECK(bits_of(be, tdy) == got);
      }
    }
}
