// backend_op_checks.cpp: Backend's front door (backend.cpp) checks every op's arguments before an
// engine runs: one case per family (GEMM operands and shapes, elementwise dtypes and sizes, the
// dropout p, optimizer sizes and hyperparameters, row-wise sizes, memory), each through the
// public interface of the CPU engine, asserting the InternalError (exit 1: a caller bug) and the
// message fragments that name the op, the argument and what was expected. A rejected call must
// leave its outputs untouched.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "backend/gemm_desc.h"
#include "unit/backend_test_util.h"

using namespace mp;
using namespace mp::test;

namespace {

// Runs f, which must throw InternalError; returns its message.
template <class F>
std::string rejected(F&& f) {
  try {
    f();
  } catch (const InternalError& e) {
    CHECK(e.exit_code() == kExitInternal);
    return e.what();
  }
  FAIL("the call was accepted");
  return "";
}

#define CHECK_HAS(msg, frag) CHECK_MESSAGE((msg).find(frag) != std::string::npos, (msg))

Tensor filled(const Shape& s, DType dt, float v) {
  Tensor t = cpu_be().empty(s, dt);
  cpu_be().fill(t, v);
  return t;
}

// A tensor that claims to live on the GPU (host memory that is never touched).
Tensor fake_cuda(const Shape& s) {
  static float mem[64];
  auto st = std::make_shared<Storage>(mem, sizeof mem, Device::CUDA, [](void*) {});
  return Tensor(st, 0, s, DType::F32);
}

}  // namespace

TEST_CASE("op checks: gemm operands, shapes and bias") {
  Backend& be = cpu_be();
  Tensor A = filled({4, 3}, DType::F32, 1), B = filled({5, 2}, DType::F32, 1);
  Tensor C = filled({4, 2}, DType::F32, 7);
  std::string m = rejected([&] { be.gemm(false, false, 1, A, B, 0, C); });
  CHECK_HAS(m, "gemm: shapes do not chain (op(A) is 4x3, op(B) is 5x2, C is 4x2)");
  CHECK_HAS(m, "A fp32[4, 3] on cpu, B fp32[5, 2] on cpu, C fp32[4, 2] on cpu");
  CHECK(get(be, C)[0] == 7.0f);  // untouched

  // The transposes are part of the shapes: B^T [2, 5] still does not chain with A [4, 3].
  m = rejected([&] { be.gemm(false, true, 1, A, B, 0, C); });
  CHECK_HAS(m, "op(B) is 2x5");
  CHECK_HAS(m, "(transposed)");

  Tensor Bh = filled({3, 2}, DType::BF16, 1);
  m = rejected([&] { be.gemm(false, false, 1, A, Bh, 0, C); });
  CHECK_HAS(m, "gemm: A and B must share a float dtype");
  Tensor B3 = filled({3, 2}, DType::F32, 1), Ch = filled({4, 2}, DType::F16, 0);
  m = rejected([&] { be.gemm(false, false, 1, A, B3, 0, Ch); });
  CHECK_HAS(m, "gemm: C must have A's dtype or be fp32");

  Tensor bias = filled({3}, DType::F32, 1);
  m = rejected([&] { be.gemm(false, false, 1, A, B3, 0, C, &bias); });
  CHECK_HAS(m, "gemm: bias must be a cpu tensor of N = 2 elements, fp32 or C's dtype; got fp32[3]");

  Tensor G = fake_cuda({3, 2});
  m = rejected([&] { be.gemm(false, false, 1, A, G, 0, C); });
  CHECK_HAS(m, "gemm: operands must be cpu tensors");
  CHECK_HAS(m, "B fp32[3, 2] on cuda");

  Tensor A3 = filled({2, 4, 3}, DType::F32, 1), B3b = filled({3, 3, 2}, DType::F32, 1);
  Tensor C3 = filled({2, 4, 2}, DType::F32, 0);
  m = rejected([&] { be.gemm_batched(false, false, 1, A3, B3b, 0, C3); });
  CHECK_HAS(m, "gemm_batched: batch sizes differ");
  m = rejected([&] { be.gemm_batched(false, false, 1, A, B3, 0, C); });
  CHECK_HAS(m, "gemm_batched: operands must be 3-D [batch, rows, cols]");
}

TEST_CASE("op checks: the resolved GEMM shapes both engines build their descriptors from") {
  Backend& be = cpu_be();
  // A stored [K, M] = [3, 4] (transposed), B stored [N, K] = [2, 3] (transposed), C [M, N].
  Tensor A = be.empty({3, 4}, DType::BF16), B = be.empty({2, 3}, DType::BF16);
  Tensor C = be.empty({4, 2}, DType::F32);
  GemmDesc s = resolve_gemm(Device::CPU, true, true, A, B, C, nullptr, false);
  CHECK(!s.batched);
  CHECK(s.batch == 0);
  CHECK((s.M == 4 && s.N == 2 && s.K == 3));
  CHECK((s.a.rows == 3 && s.a.cols == 4 && s.a.ld() == 4));
  CHECK((s.b.rows == 2 && s.b.cols == 3 && s.b.ld() == 3));
  CHECK((s.c.rows == 4 && s.c.cols == 2 && s.c.ld() == 2));
  // Batched: strides between matrices are each operand's matrix size; leading dims as stored.
  Tensor A3 = be.empty({5, 4, 3}, DType::F32), B3 = be.empty({5, 3, 2}, DType::F32);
  Tensor C3 = be.empty({5, 4, 2}, DType::F32);
  s = resolve_gemm(Device::CPU, false, false, A3, B3, C3, nullptr, true);
  CHECK((s.batched && s.batch == 5 && s.M == 4 && s.N == 2 && s.K == 3));
  CHECK((s.a.batch_stride() == 12 && s.b.batch_stride() == 6 && s.c.batch_stride() == 8));
  CHECK(!s.empty());
  // Leading dims flattened for a plain GEMM: A [2, 3, 5] is 6 x 5.
  Tensor Af = be.empty({2, 3, 5}, DType::F32), Bf = be.empty({5, 7}, DType::F32);
  Tensor Cf = be.empty({6, 7}, DType::F32);
  s = resolve_gemm(Device::CPU, false, false, Af, Bf, Cf, nullptr, false);
  CHECK((s.M == 6 && s.N == 7 && s.K == 5));
  // An empty batch or output is resolved (and skipped by Backend::gemm), not rejected.
  Tensor E = be.empty({0, 4, 3}, DType::F32), EB = be.empty({0, 3, 2}, DType::F32);
  Tensor EC = be.empty({0, 4, 2}, DType::F32);
  CHECK(resolve_gemm(Device::CPU, false, false, E, EB, EC, nullptr, true).empty());
  be.gemm_batched(false, false, 1, E, EB, 0, EC);
}

TEST_CASE("op checks: elementwise dtypes and element counts") {
  Backend& be = cpu_be();
  Tensor a = filled({4}, DType::F32, 1), b = filled({4}, DType::BF16, 2);
  Tensor out = filled({4}, DType::F16, 5);
  Tensor ints = be.empty({4}, DType::I32);
  std::string m = rejected([&] { be.add(a, ints, out); });
  CHECK_HAS(m, "add: b must be fp32, fp16 or bf16, got int32[4] on cpu");
  CHECK(get(be, out)[0] == 5.0f);
  m = rejected([&] { be.activation_forward(Act::Relu, ints, out); });
  CHECK_HAS(m, "activation_forward: x must be fp32, fp16 or bf16");
  m = rejected([&] { be.cast(a, ints); });
  CHECK_HAS(m, "cast: dst must be fp32, fp16 or bf16");

  Tensor five = filled({5}, DType::F32, 0);
  m = rejected([&] { be.add(a, b, five); });
  CHECK_HAS(m, "add: a fp32[4] on cpu and out fp32[5] on cpu must have the same element count");
  m = rejected([&] { be.accumulate(five, a); });
  CHECK_HAS(m, "accumulate: src fp32[5] on cpu and dst fp32[4] on cpu must have the same");
  m = rejected([&] { be.activation_backward(Act::GeluTanh, a, five, out); });
  CHECK_HAS(m, "activation_backward: x fp32[4] on cpu and dy fp32[5] on cpu");

  Tensor undefined;
  m = rejected([&] { be.fill(undefined, 0); });
  CHECK_HAS(m, "fill: x is an undefined tensor");
  m = rejected([&] { be.copy(a, b); });
  CHECK_HAS(m, "copy: src fp32[4] on cpu and dst bf16[4] on cpu must have the same dtype");
  m = rejected([&] { be.empty({2, -1}, DType::F32); });
  CHECK_HAS(m, "empty: negative dimension in [2, -1]");
  Tensor g = fake_cuda({4});
  m = rejected([&] { be.scale(g, 2); });
  CHECK_HAS(m, "scale: x is fp32[4] on cuda, expected a cpu tensor");
}

TEST_CASE("op checks: dropout p must be in [0, 1]") {
  Backend& be = cpu_be();
  Tensor x = filled({8}, DType::F32, 1), y = filled({8}, DType::F32, 3);
  for (float p : {-0.1f, 1.5f, std::nanf("")}) {
    CAPTURE(p);
    std::string m = rejected([&] { be.dropout_forward(x, y, p, 1, 0); });
    CHECK_HAS(m, "dropout: p must be in [0, 1], got ");
    m = rejected([&] { be.dropout_backward(x, y, p, 1, 0); });
    CHECK_HAS(m, "dropout: p must be in [0, 1]");
  }
  CHECK(get(be, y)[0] == 3.0f);
  be.dropout_forward(x, y, 0.0f, 1, 0);  // the bounds themselves are fine
  CHECK(get(be, y)[0] == 1.0f);
  be.dropout_forward(x, y, 1.0f, 1, 0);
  CHECK(get(be, y)[0] == 0.0f);
  Tensor y3 = filled({3}, DType::F32, 0);
  CHECK_HAS(rejected([&] { be.dropout_forward(x, y3, 0.5f, 1, 0); }),
            "dropout_forward: x fp32[8] on cpu and y fp32[3] on cpu must have the same element");
}

TEST_CASE("op checks: optimizer steps, sizes and hyperparameters") {
  Backend& be = cpu_be();
  Tensor p = filled({6}, DType::F32, 1), g = filled({5}, DType::F32, 1);
  Tensor m = filled({6}, DType::F32, 0), v = filled({6}, DType::F32, 0);
  const AdamWHyper h;
  const Rounding r;
  std::string msg = rejected([&] { be.adamw_step(p, g, m, v, h, r); });
  CHECK_HAS(msg, "adamw_step: grad has 5 elements (fp32[5] on cpu), expected 6");
  CHECK(get(be, p)[0] == 1.0f);

  Tensor g6 = filled({6}, DType::F32, 1), m16 = filled({6}, DType::BF16, 0);
  msg = rejected([&] { be.adamw_step(p, g6, m16, v, h, r); });
  CHECK_HAS(msg, "adamw_step: m must be fp32, got bf16[6] on cpu");
  Tensor v4 = filled({4}, DType::F32, 0);
  msg = rejected([&] { be.adamw_step(p, g6, m, v4, h, r); });
  CHECK_HAS(msg, "adamw_step: v has 4 elements");
  AdamWHyper h0;
  h0.step = 0;
  msg = rejected([&] { be.adamw_step(p, g6, m, v, h0, r); });
  CHECK_HAS(msg, "adamw_step: step must be >= 1 (1-based), got 0");

  SgdHyper sh;
  sh.momentum = 0.9f;
  msg = rejected([&] { be.sgd_step(p, g6, nullptr, sh, r); });
  CHECK_HAS(msg, "sgd_step: momentum 0.9");
  CHECK_HAS(msg, "needs a momentum buffer, got none");
  msg = rejected([&] { be.sgd_step(p, g, &m, sh, r); });
  CHECK_HAS(msg, "sgd_step: grad has 5 elements");

  // The fused forms: the same checks plus the working copy.
  GradPrep prep;
  Tensor w5 = filled({5}, DType::BF16, 0);
  msg = rejected([&] { be.adamw_step_fused(p, g6, m, v, h, r, prep, &w5); });
  CHECK_HAS(msg, "adamw_step_fused: working has 5 elements");
  msg = rejected([&] { be.sgd_step_fused(p, g6, nullptr, sh, r, prep, nullptr); });
  CHECK_HAS(msg, "sgd_step_fused: momentum 0.9");
  msg = rejected([&] { be.adamw_step_fused(p, g, m, v, h, r, prep, nullptr); });
  CHECK_HAS(msg, "adamw_step_fused: grad has 5 elements");
  Tensor ints = be.empty({6}, DType::I32);
  msg = rejected([&] { be.check_grad(ints, 1.0f); });
  CHECK_HAS(msg, "check_grad: grad must be fp32, fp16 or bf16");
  CHECK(get(be, p)[0] == 1.0f);
}

TEST_CASE("op checks: row-wise and reduction sizes") {
  Backend& be = cpu_be();
  Tensor x = filled({3, 4}, DType::F32, 1), y = filled({3, 4}, DType::F32, 0);
  Tensor gamma = filled({5}, DType::F32, 1), beta = filled({4}, DType::F32, 0);
  Tensor mean = filled({3}, DType::F32, 0), rstd = filled({3}, DType::F32, 0);
  CHECK_HAS(rejected([&] { be.layernorm_forward(x, gamma, beta, 1e-5f, y, mean, rstd); }),
            "layernorm_forward: gamma has 5 elements (fp32[5] on cpu), expected 4");
  Tensor labels = be.empty({2}, DType::I32), losses = filled({3}, DType::F32, 0);
  CHECK_HAS(rejected([&] { be.softmax_xent(x, labels, -1, 1, losses, nullptr); }),
            "softmax_xent: labels has 2 elements");
  Tensor t = filled({4, 3}, DType::F32, 0), d = filled({2, 4}, DType::F32, 0);
  CHECK_HAS(rejected([&] { be.mse(x, t, 1, losses, &d); }),
            "mse: dpred is fp32[2, 4] on cpu, expected 3 x 4 elements");
  Tensor db = filled({3}, DType::F32, 0);
  CHECK_HAS(rejected([&] { be.bias_grad(x, db, 0); }), "bias_grad: db has 3 elements");
  Tensor out = be.empty({3}, DType::F32);
  CHECK_HAS(rejected([&] { be.argmax_rows(x, out); }), "argmax_rows: out_i32 must be int32");
}

TEST_CASE("op checks: conv2d, pooling and group_norm shapes, dtypes and windows") {
  Backend& be = cpu_be();
  const Conv2dDesc d = make_conv2d_desc(2, 3, 5, 5, 4, 1, Window2d{3, 3, 1, 1, 0, 0, 1, 1});
  Tensor x = filled({2, 3, 5, 5}, DType::F32, 1), w = filled({4, 3, 3, 3}, DType::F32, 1);
  Tensor y = filled({2, 4, 3, 3}, DType::F32, 7);
  Tensor wb = filled({4, 3, 3, 3}, DType::BF16, 1);
  std::string m = rejected([&] { be.conv2d_forward(x, wb, nullptr, y, d); });
  CHECK_HAS(m, "conv2d_forward: w must be fp32, got bf16[4, 3, 3, 3] on cpu");
  Tensor small = filled({2, 4, 2, 2}, DType::F32, 7);
  m = rejected([&] { be.conv2d_forward(x, w, nullptr, small, d); });
  CHECK_HAS(m, "conv2d_forward: y has 32 elements");
  CHECK_HAS(m, "expected 72");
  Conv2dDesc bad = d;
  bad.oh = 4;
  m = rejected([&] { be.conv2d_forward(x, w, nullptr, y, bad); });
  CHECK_HAS(m, "output plane [4, 3] does not follow from input [5, 5] and the window (expected [3, 3]");
  Conv2dDesc grp = make_conv2d_desc(2, 3, 5, 5, 4, 2, d.win);
  m = rejected([&] { be.conv2d_forward(x, w, nullptr, y, grp); });
  CHECK_HAS(m, "groups 2 must divide the input (3) and output (4) channels");
  Tensor dw16 = filled({4, 3, 3, 3}, DType::BF16, 0);
  m = rejected([&] { be.conv2d_backward_weights(x, y, dw16, nullptr, d); });
  CHECK_HAS(m, "conv2d_backward_weights: dw must be fp32");
  CHECK(get(be, y)[0] == 7.0f);  // untouched

  const Pool2dDesc p = make_pool2d_desc(2, 3, 5, 5, Window2d{2, 2, 2, 2, 0, 0, 1, 1});
  Tensor py = filled({2, 3, 2, 2}, DType::F32, 0);
  m = rejected([&] { be.pool2d_forward(true, x, py, nullptr, p); });
  CHECK_HAS(m, "pool2d_forward: max pooling needs an argmax tensor");
  Tensor arg = cpu_be().empty({2, 3, 2, 2}, DType::F32);
  m = rejected([&] { be.pool2d_forward(true, x, py, &arg, p); });
  CHECK_HAS(m, "pool2d_forward: argmax must be int32");

  Tensor g = filled({3}, DType::F32, 1), b = filled({3}, DType::F32, 0);
  Tensor mean = filled({4}, DType::F32, 0), rstd = filled({4}, DType::F32, 0);
  Tensor gy = filled({2, 3, 5, 5}, DType::F32, 0);
  m = rejected([&] { be.group_norm_forward(x, g, b, 2, 1e-5f, gy, mean, rstd); });
  CHECK_HAS(m, "group_norm_forward: groups 2 must divide the 3 channels of x fp32[2, 3, 5, 5]");
  Tensor mean3 = filled({2}, DType::F32, 0);
  m = rejected([&] { be.group_norm_forward(x, g, b, 3, 1e-5f, gy, mean3, rstd); });
  CHECK_HAS(m, "group_norm_forward: mean has 2 elements");
}
