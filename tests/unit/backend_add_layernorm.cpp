// backend_add_layernorm.cpp: the residual add fused with layernorm forward
// (Backend::add_layernorm_forward) against add() then layernorm_forward() bit for bit (all dtypes,
// gamma/beta of another dtype, sum_out aliasing an input, short and long rows), its argument
// checks, and the online (max, sum of exp) of kernels/softmax_xent.h that the GPU's long rows use,
// against row_max / row_sum_exp (any split of the row, -inf and NaN elements).
#include <doctest/doctest.h>

#include <string>

#include "kernels/softmax_xent.h"
#include "unit/backend_test_util.h"

using namespace mp;
using namespace mp::test;

namespace {

// Bitwise equality of two host copies (values as floats: every dtype converts exactly).
void check_bits(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  REQUIRE(got.size() == want.size());
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (bits(got[i]) != bits(want[i]) && bad++ < 3)
      FAIL_CHECK(what << "[" << i << "]: fused " << got[i] << ", separate " << want[i]);
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " of " << got.size() << " differ");
}

}  // namespace

TEST_CASE("add_layernorm_forward: bit for bit add() then layernorm_forward()") {
  Backend& be = cpu_be();
  const float eps = 1e-5f;
  for (DType dt : kFloatTypes)
    for (DType gdt : {dt, DType::F32})
      for (int64_t cols : {int64_t(1), int64_t(7), int64_t(64), int64_t(777), int64_t(1500)})
        for (bool alias : {false, true}) {
          CAPTURE(dtype_name(dt));
          CAPTURE(dtype_name(gdt));
          CAPTURE(cols);
          CAPTURE(alias);
          const int64_t rows = 5;
          const size_t n = size_t(rows * cols);
          // a around 3 and b small: the sum rounds in fp16/bf16 and the row is off-centre.
          const auto av = random_floats(n, 1.0f, 5.0f, uint32_t(cols), dt);
          const auto bv = random_floats(n, -0.3f, 0.3f, uint32_t(cols + 1), dt);
          const auto g = random_floats(size_t(cols), 0.5f, 1.5f, 2, gdt);
          const auto bb = random_floats(size_t(cols), -1, 1, 3, gdt);
          const Tensor tg = make(be, g, {cols}, gdt), tb = make(be, bb, {cols}, gdt);
          // Separate ops.
          Tensor a1 = make(be, av, {rows, cols}, dt), b1 = make(be, bv, {rows, cols}, dt);
          Tensor s1 = be.empty({rows, cols}, dt), y1 = be.empty({rows, cols}, dt);
          Tensor m1 = be.empty({rows}, DType::F32), r1 = be.empty({rows}, DType::F32);
          be.add(a1, b1, s1);
          be.layernorm_forward(s1, tg, tb, eps, y1, m1, r1);
          // Fused, with sum_out a fresh tensor or a itself (the residual's in-place form).
          Tensor a2 = make(be, av, {rows, cols}, dt), b2 = make(be, bv, {rows, cols}, dt);
          Tensor s2 = alias ? a2 : be.empty({rows, cols}, dt), y2 = be.empty({rows, cols}, dt);
          Tensor m2 = be.empty({rows}, DType::F32), r2 = be.empty({rows}, DType::F32);
          be.add_layernorm_forward(a2, b2, tg, tb, eps, s2, y2, m2, r2);
          check_bits(get(be, s2), get(be, s1), "sum_out");
          check_bits(get(be, y2), get(be, y1), "y");
          check_bits(get(be, m2), get(be, m1), "mean");
          check_bits(get(be, r2), get(be, r1), "rstd");
          if (dt != DType::F32) {
            // The sum really rounds here: fp32 a + b differs from the stored sum somewhere, so
            // a fused op that normalised the unrounded sum would not match.
            const auto s = get(be, s2);
            bool rounded = false;
            for (size_t i = 0; i < n && !rounded; ++i) rounded = s[i] != av[i] + bv[i];
            CHECK(rounded);
          }
        }
}

TEST_CASE("add_layernorm_forward: argument checks name the op and the argument") {
  Backend& be = cpu_be();
  Tensor a = be.empty({2, 4}, DType::F32), b = be.empty({2, 4}, DType::F32);
  Tensor s = be.empty({2, 4}, DType::F32), y = be.empty({2, 4}, DType::F32);
  Tensor g = be.empty({4}, DType::F32), bt = be.empty({4}, DType::F32);
  Tensor m = be.empty({2}, DType::F32), r = be.empty({2}, DType::F32);
  be.fill(a, 1.0f);
  be.fill(b, 2.0f);
  be.fill(g, 1.0f);
  be.fill(bt, 0.0f);
  Tensor b16 = be.empty({2, 4}, DType::BF16);
  CHECK_THROWS_WITH(be.add_layernorm_forward(a, b16, g, bt, 1e-5f, s, y, m, r),
                    doctest::Contains("add_layernorm_forward: b must be fp32"));
  Tensor y_short = be.empty({2, 3}, DType::F32);
  CHECK_THROWS_WITH(be.add_layernorm_forward(a, b, g, bt, 1e-5f, s, y_short, m, r),
                    doctest::Contains("add_layernorm_forward: y is"));
  Tensor g_short = be.empty({3}, DType::F32);
  CHECK_THROWS_WITH(be.add_layernorm_forward(a, b, g_short, bt, 1e-5f, s, y, m, r),
                    doctest::Contains("add_layernorm_forward: gamma has 3 elements"));
  CHECK_THROWS_WITH(be.add_layernorm_forward(a, b, g, bt, 1e-5f, s, s, m, r),
                    doctest::Contains("y must not alias a, b or sum_out"));
  // Valid: y = layernorm(3, 3, 3, 3) = beta = 0 per row.
  be.add_layernorm_forward(a, b, g, bt, 1e-5f, s, y, m, r);
  CHECK(get(be, s) == std::vector<float>(8, 3.0f));
  CHECK(get(be, y) == std::vector<float>(8, 0.0f));
}

TEST_CASE("kernels: online (max, sum of exp) agrees with row_max and row_sum_exp") {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-30.0f, 30.0f);
  for (int64_t n : {int64_t(1), int64_t(9), int64_t(1000), int64_t(5000)}) {
    std::vector<float> x(static_cast<size_t>(n));
    for (float& v : x) v = u(rng);
    x[0] = -INFINITY;  // a leading -inf: exp(-inf - -inf) would be NaN
    if (n > 1) x[static_cast<size_t>(n - 1)] = -INFINITY;
    for (int parts : {1, 3, 256}) {
      CAPTURE(n);
      CAPTURE(parts);
      // Element j goes to part j % parts (a block's threads), the parts merged left to right.
      std::vector<kernels::MaxSumExp> p(static_cast<size_t>(parts), {-INFINITY, 0.0f});
      for (int64_t j = 0; j < n; ++j)
        p[static_cast<size_t>(j % parts)] = kernels::lse_push(p[static_cast<size_t>(j % parts)], x[size_t(j)]);
      kernels::MaxSumExp t{-INFINITY, 0.0f};
      for (const auto& q : p) t = kernels::lse_merge(t, q);
      const float m = kernels::row_max(x.data(), n);
      const float s = kernels::row_sum_exp(x.data(), n, m);
      if (n == 1) {  // only -inf: the CPU's sum is NaN (exp(-inf - -inf)); the caller recomputes
        CHECK(t.m == -INFINITY);
        CHECK(std::isnan(s));
        continue;
      }
      CHECK(t.m == m);
      CHECK(t.s == doctest::Approx(s).epsilon(1e-5));
      // Merging is symmetric bit for bit (a warp butterfly relies on it).
      if (parts > 1) {
        const auto ab = kernels::lse_merge(p[0], p[1]), ba = kernels::lse_merge(p[1], p[0]);
        CHECK(bits(ab.m) == bits(ba.m));
        CHECK(bits(ab.s) == bits(ba.s));
      }
    }
  }
  // A NaN element makes the sum NaN however the row is split (row_sum_exp's behaviour).
  kernels::MaxSumExp a{-INFINITY, 0.0f}, b{-INFINITY, 0.0f};
  a = kernels::lse_push(a, NAN);  // a part that holds only the NaN
  b = kernels::lse_push(kernels::lse_push(b, 1.0f), 2.0f);
  CHECK(std::isnan(kernels::lse_merge(a, b).s));
  CHECK(std::isnan(kernels::lse_merge(b, a).s));
  CHECK(kernels::lse_merge(a, b).m == 2.0f);
}
