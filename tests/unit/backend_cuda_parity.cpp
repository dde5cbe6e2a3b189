// backend_cuda_parity.cpp: every Backend op on the CUDA engine against the CPU engine on the same
// inputs, in fp32, fp16 and bf16. Bit-exact where the math is elementwise and deterministic
// (fill, casts -- every fp16/bf16 bit pattern --, scale/add/accumulate, ReLU, dropout masks,
// uniform Philox draws, unscale, argmax, magnitude counts); within a few units of roundoff where
// transcendentals, FMA contraction or summation order differ (activations, layernorm, softmax
// cross-entropy, mse, normal draws, optimizer steps); GEMMs against an fp64 reference within the
// fp32-accumulation bound (all transposes, dtypes, alpha/beta, bias kinds, batched, K = 0,
// unaligned views, TF32), and bit-exact where the exact result makes the single output rounding
// checkable. Reductions also run twice on the GPU and must agree bit for bit.
// Without a CUDA device this prints "SKIPPED: no CUDA device" and exits 77 (ctest: skipped).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "backend/cuda/cuda_options.h"
#include "unit/cuda_parity_util.h"
#include "unit/embedding_deferred_check.h"
#include "unit/multi_tensor_check.h"

using namespace mp;
using namespace mp::cuda_test;

namespace {

[[maybe_unused]] const int kSkipped = skip_without_gpu();

// ---- GEMM reference
// ------------------------------------------------------------------------------

Shape a_shape(bool ta, int64_t M, int64_t K) { return ta ? Shape{K, M} : Shape{M, K}; }
Shape b_shape(bool tb, int64_t K, int64_t N) { return tb ? Shape{N, K} : Shape{K, N}; }
double at(const std::vector<float>& a, bool t, int64_t r, int64_t c, int64_t R, int64_t C) {
  return t ? a[size_t(c * R + r)] : a[size_t(r * C + c)];
}

// ref = alpha op(A) op(B) + beta C0 + bias in fp64, mag = the same with absolute values; one
// matrix of a batch (offsets into the flat vectors).
void reference(bool ta, bool tb, double alpha, const float* A, const float* B, double beta,
               const float* C0, const float* bias, int64_t M, int64_t N, int64_t K, double* ref,
               double* mag) {
  std::vector<float> a(A, A + M * K), b(B, B + K * N);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0, m = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double p = at(a, ta, i, k, M, K) * at(b, tb, k, j, K, N);
        s += p;
        m += std::fabs(p);
      }
      double r = alpha * s, g = std::fabs(alpha) * m;
      if (beta != 0) {
        r += beta * C0[i * N + j];
        g += std::fabs(beta * C0[i * N + j]);
      }
      if (bias) {
        r += bias[j];
        g += std::fabs(bias[j]);
      }
      ref[i * N + j] = r;
      mag[i * N + j] = g;
    }
}

// One output rounding plus fp32 accumulation (TF32: inputs rounded to 11 significant bits).
void check_bound(const std::vector<float>& C, const std::vector<double>& ref,
                 const std::vector<double>& mag, int64_t K, DType out, bool tf32,
                 const std::string& what) {
  const double u32 = std::ldexp(1.0, -24), uo = out == DType::F32 ? 0.0 : unit_roundoff(out);
  const double sub = 0.5 * dtype_min_subnormal(out);
  const double in = tf32 ? 2.0 * std::ldexp(1.0, -11) : 0.0;
  for (size_t i = 0; i < C.size(); ++i) {
    const double tol = uo * std::fabs(ref[i]) + (in + 2.0 * double(K + 3) * u32) * mag[i] + sub;
    if (!(std::fabs(C[i] - ref[i]) <= tol)) {
      FAIL_CHECK(what << ": element " << i << ": cuda " << C[i] << ", fp64 reference " << ref[i]
                      << ", tol " << tol);
      return;
    }
  }
}

struct GemmCase {
  int64_t batch, M, N, K;  // batch 0: plain gemm
};

void run_gemm(DType dt, DType out, bool ta, bool tb, GemmCase c, float alpha, float beta,
              int bias_kind /*0 none, 1 fp32, 2 C's dtype*/, uint32_t seed, bool tf32 = false) {
  Backend& g = gpu();
  const int64_t nb = std::max<int64_t>(c.batch, 1);
  auto A = rnd(size_t(nb * c.M * c.K), -1, 1, seed, dt);
  auto B = rnd(size_t(nb * c.K * c.N), -1, 1, seed + 1, dt);
  auto C0 = rnd(size_t(nb * c.M * c.N), -1, 1, seed + 2, out);
  const DType bias_dt = bias_kind == 2 ? out : DType::F32;
  auto bias = rnd(size_t(c.N), -1, 1, seed + 3, bias_dt);
  auto sh = [&](Shape s) {
    if (c.batch > 0) s.insert(s.begin(), c.batch);
    return s;
  };
  Tensor tA = make(g, A, sh(a_shape(ta, c.M, c.K)), dt),
         tB = make(g, B, sh(b_shape(tb, c.K, c.N)), dt);
  Tensor tC = make(g, C0, sh({c.M, c.N}), out), tbias = make(g, bias, {c.N}, bias_dt);
  set_allow_tf32(g, tf32);
  if (c.batch > 0)
    g.gemm_batched(ta, tb, alpha, tA, tB, beta, tC);
  else
    g.gemm(ta, tb, alpha, tA, tB, beta, tC, bias_kind ? &tbias : nullptr);
  set_allow_tf32(g, false);
  std::vector<double> ref(C0.size()), mag(C0.size());
  for (int64_t b = 0; b < nb; ++b)
    reference(ta, tb, alpha, A.data() + b * c.M * c.K, B.data() + b * c.K * c.N, beta,
              C0.data() + b * c.M * c.N, bias_kind && c.batch == 0 ? bias.data() : nullptr, c.M,
              c.N, c.K, ref.data() + b * c.M * c.N, mag.data() + b * c.M * c.N);
  check_bound(floats(g, tC), ref, mag, c.K, out, tf32 && dt == DType::F32, "gemm");
}

// Dyadic inputs k/64, |k| <= 64: every partial sum is exact in fp32 whatever the order, so each
// output must be exactly the one RNE rounding of the exact value.
std::vector<float> dyadic(size_t n, uint32_t seed, int range = 64, float unit = 1.0f / 64) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(-range, range);
  std::vector<float> v(n);
  for (auto& x : v) x = float(d(rng)) * unit;
  return v;
}

}  // namespace

TEST_CASE("cuda: device name, memory round trips, copies, peak memory") {
  Backend& g = gpu();
  if (!selftest()) {
    CHECK(g.device() == Device::CUDA);
    CHECK(g.name().rfind("cuda (", 0) == 0);
  }
  const size_t peak0 = g.peak_memory_bytes();
  for (DType dt : {DType::F32, DType::F16, DType::BF16, DType::I32, DType::I64}) {
    CAPTURE(name(dt));
    Tensor t = g.empty({1000, 3}, dt);
    std::vector<uint8_t> in(t.nbytes()), out(t.nbytes());
    for (size_t i = 0; i < in.size(); ++i) in[i] = uint8_t(i * 37 + 11);
    g.upload(in.data(), t);
    g.download(t, out.data());
    CHECK(in == out);
    Tensor u = g.empty({3000}, dt);
    g.copy(t, u);
    std::fill(out.begin(), out.end(), 0);
    g.download(u, out.data());
    CHECK(in == out);
  }
  CHECK(g.peak_memory_bytes() >= peak0 + 3000 * 8);
  Tensor z = g.empty({0, 5}, DType::F32);
  g.upload(nullptr, z);
  g.download(z, nullptr);
  // Overlapping views of one storage: an ordered move, as memmove.
  std::vector<float> v(10);
  for (int i = 0; i < 10; ++i) v[size_t(i)] = float(i);
  Pair p = pair(v, {10}, DType::F32);
  for (Backend* be : {&cpu(), &gpu()}) {
    Tensor& t = be == &cpu() ? p.c : p.g;
    Tensor src = t.flat_range(0, 8), dst = t.flat_range(2, 8);
    be->copy(src, dst);
  }
  check_bits(p, "overlapping copy");
}

TEST_CASE("cuda: fill and cast bit for bit, every fp16 and bf16 bit pattern") {
  const float vals[] = {0.0f,  -0.0f,    0.1f,     1e-8f,     3e-39f, 70000.0f,
                        -3.5f, 65520.0f, INFINITY, -INFINITY, NAN,    1.0f + std::ldexp(1.0f, -9)};
  for (DType dt : kFloatTypes)
    for (float v : vals) {
      CAPTURE(name(dt));
      CAPTURE(v);
      Pair p = pair_empty({1000}, dt);
      cpu().fill(p.c, v);
      gpu().fill(p.g, v);
      check_bits(p, "fill");
    }
  // fp32 -> fp16/bf16: ties, subnormals, overflow, NaN payloads, random bits.
  std::vector<uint32_t> bits32;
  std::mt19937 rng(5);
  for (int i = 0; i < 200000; ++i) bits32.push_back(rng());
  for (uint32_t e : {0x00000000u, 0x33000000u, 0x38800000u, 0x477fe000u, 0x477ff000u, 0x7f800000u})
    for (uint32_t m = 0; m < 0x4000; ++m) bits32.push_back(e | (m << 9) | (m & 1 ? 0x1000u : 0u));
  const int64_t n32 = int64_t(bits32.size());
  Pair src{cpu().empty({n32}, DType::F32), gpu().empty({n32}, DType::F32)};
  cpu().upload(bits32.data(), src.c);
  gpu().upload(bits32.data(), src.g);
  for (DType to : {DType::F16, DType::BF16}) {
    CAPTURE(name(to));
    Pair d = pair_empty({n32}, to);
    cpu().cast(src.c, d.c);
    gpu().cast(src.g, d.g);
    check_bits(d, "cast fp32 -> " + name(to));
  }
  // Every 16-bit pattern of fp16 and bf16 to the other two types.
  std::vector<uint16_t> all(65536);
  for (uint32_t i = 0; i < 65536; ++i) all[i] = uint16_t(i);
  for (DType from : {DType::F16, DType::BF16}) {
    Pair s{cpu().empty({65536}, from), gpu().empty({65536}, from)};
    cpu().upload(all.data(), s.c);
    gpu().upload(all.data(), s.g);
    for (DType to : kFloatTypes) {
      if (to == from) continue;
      CAPTURE(name(from));
      CAPTURE(name(to));
      Pair d = pair_empty({65536}, to);
      cpu().cast(s.c, d.c);
      gpu().cast(s.g, d.g);
      check_bits(d, "cast " + name(from) + " -> " + name(to));
    }
  }
}

TEST_CASE("cuda: scale, add, accumulate bit for bit (mixed dtypes too)") {
  const int64_t n = 100003;
  for (DType dt : kFloatTypes) {
    CAPTURE(name(dt));
    auto a = rnd(size_t(n), -100, 100, 1, dt), b = rnd(size_t(n), -100, 100, 2, dt);
    Pair x = pair(a, {n}, dt), y = pair(b, {n}, dt), o = pair_empty({n}, dt);
    cpu().scale(x.c, 0.3f);
    gpu().scale(x.g, 0.3f);
    check_bits(x, "scale");
    cpu().add(x.c, y.c, o.c);
    gpu().add(x.g, y.g, o.g);
    check_bits(o, "add");
    cpu().accumulate(y.c, o.c);
    gpu().accumulate(y.g, o.g);
    check_bits(o, "accumulate");
  }
  // a bf16 + b fp32 -> out fp16, and accumulate fp32 src into a bf16 dst
  auto a = rnd(5000, -10, 10, 3, DType::BF16), b = rnd(5000, -10, 10, 4);
  Pair x = pair(a, {5000}, DType::BF16), y = pair(b, {5000}, DType::F32),
       o = pair_empty({5000}, DType::F16);
  cpu().add(x.c, y.c, o.c);
  gpu().add(x.g, y.g, o.g);
  check_bits(o, "mixed add");
  cpu().accumulate(y.c, x.c);
  gpu().accumulate(y.g, x.g);
  check_bits(x, "mixed accumulate");
}

TEST_CASE("cuda: activations forward and backward") {
  const Act acts[] = {Act::Identity, Act::Relu,    Act::GeluTanh, Act::GeluExact,
                      Act::Tanh,     Act::Sigmoid, Act::Silu};
  const int64_t n = 20000;
  for (DType dt : kFloatTypes)
    for (Act act : acts) {
      CAPTURE(name(dt));
      CAPTURE(int(act));
      auto xv = rnd(size_t(n), -8, 8, 10, dt);
      xv[0] = 0.0f, xv[1] = -0.0f, xv[2] = round_dt(30.0f, dt), xv[3] = round_dt(-30.0f, dt);
      xv[4] = round_dt(1e4f, dt), xv[5] = round_dt(-1e4f, dt), xv[6] = NAN;
      auto dyv = rnd(size_t(n), -2, 2, 11, dt);
      Pair x = pair(xv, {n}, dt), dy = pair(dyv, {n}, dt), y = pair_empty({n}, dt),
           dx = pair_empty({n}, dt);
      cpu().activation_forward(act, x.c, y.c);
      gpu().activation_forward(act, x.g, y.g);
      cpu().activation_backward(act, x.c, dy.c, dx.c);
      gpu().activation_backward(act, x.g, dy.g, dx.g);
      const bool exact = act == Act::Identity || act == Act::Relu;
      if (exact) {
        check_bits(y, "forward");
        check_bits(dx, "backward");
      } else {
        const double k = dt == DType::F32 ? 16 : 2;  // fp32: a few ulps; 16-bit: one ulp
        check_close(y, k, 1e-6, "forward");
        check_close(dx, k, 2e-6, "backward");
      }
    }
  // Mixed dtypes (staged through fp32): x bf16 -> y fp32.
  auto xv = rnd(3000, -4, 4, 12, DType::BF16);
  Pair x = pair(xv, {3000}, DType::BF16), y = pair_empty({3000}, DType::F32);
  cpu().activation_forward(Act::Relu, x.c, y.c);
  gpu().activation_forward(Act::Relu, x.g, y.g);
  check_bits(y, "mixed relu");
}

TEST_CASE("cuda: dropout masks and values bit for bit") {
  const int64_t n = 65537;
  for (DType dt : kFloatTypes)
    for (float p : {0.0f, 0.1f, 0.5f, 1.0f}) {
      CAPTURE(name(dt));
      CAPTURE(p);
      auto xv = rnd(size_t(n), -3, 3, 20, dt);
      Pair x = pair(xv, {n}, dt), y = pair_empty({n}, dt), dx = pair_empty({n}, dt);
      cpu().dropout_forward(x.c, y.c, p, 1234, 77);
      gpu().dropout_forward(x.g, y.g, p, 1234, 77);
      check_bits(y, "dropout_forward");
      cpu().dropout_backward(x.c, dx.c, p, 1234, 77);
      gpu().dropout_backward(x.g, dx.g, p, 1234, 77);
      check_bits(dx, "dropout_backward");
      // The stream position split into offset 13 + a device value (train.cuda_graph's layers):
      // the GPU reads it in the kernel, the CPU reference gets the sum as a host offset. A large
      // value (a late micro-batch << 16) exercises the 64-bit add.
      const int64_t base_v = (int64_t{123457} << 16) + 64;
      const uint64_t whole = uint64_t(base_v) + 13;
      Tensor base = gpu().empty({1}, DType::I64);
      gpu().upload(&base_v, base);
      cpu().dropout_forward(x.c, y.c, p, 99, whole);
      gpu().dropout_forward(x.g, y.g, p, 99, 13, &base);
      check_bits(y, "dropout_forward with offset_base");
      cpu().dropout_backward(x.c, dx.c, p, 99, whole);
      gpu().dropout_backward(x.g, dx.g, p, 99, 13, &base);
      check_bits(dx, "dropout_backward with offset_base");
    }
}

TEST_CASE("cuda: bias_grad column sums (beta 0 and 1), deterministic") {
  for (DType dt : kFloatTypes)
    for (int64_t M : {0, 1, 255, 257, 1000})
      for (int64_t N : {1, 17, 300})
        for (float beta : {0.0f, 1.0f}) {
          CAPTURE(name(dt));
          CAPTURE(M);
          CAPTURE(N);
          CAPTURE(beta);
          Pair dy = pair(rnd(size_t(M * N), -1, 1, 30, dt), {M, N}, dt);
          const auto db0 = rnd(size_t(N), -1, 1, 31);
          Pair db = pair(db0, {N}, DType::F32);
          cpu().bias_grad(dy.c, db.c, beta);
          gpu().bias_grad(dy.g, db.g, beta);
          check_close(db, 8, 1e-6 * double(M + 1), "bias_grad");
          Tensor again = make(gpu(), db0, {N}, DType::F32);
          gpu().bias_grad(dy.g, again, beta);
          CHECK(bytes(gpu(), again) == bytes(gpu(), db.g));
        }
}

TEST_CASE("cuda: layernorm forward and backward") {
  // Past 1024 columns a block per row; past 11264 without the shared-memory copy of the row.
  for (DType dt : kFloatTypes)
    for (int64_t cols : {1, 7, 64, 1000, 1025, 4096, 12000})
      for (int64_t rows : {1, 33, 130}) {
        CAPTURE(name(dt));
        CAPTURE(rows);
        CAPTURE(cols);
        const int64_t n = rows * cols;
        Pair x = pair(rnd(size_t(n), -2, 3, 40, dt), {rows, cols}, dt);
        Pair gamma = pair(rnd(size_t(cols), 0.5f, 1.5f, 41, dt), {cols}, dt);
        Pair beta = pair(rnd(size_t(cols), -0.5f, 0.5f, 42, dt), {cols}, dt);
        Pair y = pair_empty({rows, cols}, dt), mean = pair_empty({rows}, DType::F32),
             rstd = pair_empty({rows}, DType::F32);
        cpu().layernorm_forward(x.c, gamma.c, beta.c, 1e-5f, y.c, mean.c, rstd.c);
        gpu().layernorm_forward(x.g, gamma.g, beta.g, 1e-5f, y.g, mean.g, rstd.g);
        const double k = dt == DType::F32 ? 64 : 2;
        check_close(mean, 64, 1e-6, "mean");
        check_close(rstd, 64, 1e-6, "rstd");
        check_close(y, k, 2e-5, "y");
        Pair dy = pair(rnd(size_t(n), -1, 1, 43, dt), {rows, cols}, dt),
             dx = pair_empty({rows, cols}, dt);
        const auto g0 = rnd(size_t(cols), -1, 1, 44), b0 = rnd(size_t(cols), -1, 1, 45);
        Pair dgamma = pair(g0, {cols}, DType::F32), dbeta = pair(b0, {cols}, DType::F32);
        // Backward from the CPU's statistics on both, so only the backward itself is compared.
        Pair m2{mean.c, make(gpu(), floats(cpu(), mean.c), {rows}, DType::F32)};
        Pair r2{rstd.c, make(gpu(), floats(cpu(), rstd.c), {rows}, DType::F32)};
        cpu().layernorm_backward(dy.c, x.c, gamma.c, m2.c, r2.c, dx.c, dgamma.c, dbeta.c);
        gpu().layernorm_backward(dy.g, x.g, gamma.g, m2.g, r2.g, dx.g, dgamma.g, dbeta.g);
        check_close(dx, k, 1e-4, "dx");
        check_close(dgamma, 64, 1e-5 * double(rows), "dgamma");
        check_close(dbeta, 64, 1e-5 * double(rows), "dbeta");
        // Deterministic: the same call again gives the same bits.
        Tensor dg2 = make(gpu(), g0, {cols}, DType::F32), db2 = make(gpu(), b0, {cols}, DType::F32);
        Tensor dx2 = gpu().empty({rows, cols}, dt);
        gpu().layernorm_backward(dy.g, x.g, gamma.g, m2.g, r2.g, dx2, dg2, db2);
        CHECK(bytes(gpu(), dg2) == bytes(gpu(), dgamma.g));
        CHECK(bytes(gpu(), db2) == bytes(gpu(), dbeta.g));
        CHECK(bytes(gpu(), dx2) == bytes(gpu(), dx.g));
      }
  // Mixed: fp32 gamma/beta with bf16 x/y (staged).
  Pair x = pair(rnd(600, -2, 2, 46, DType::BF16), {6, 100}, DType::BF16);
  Pair gamma = pair(rnd(100, 0.5f, 1.5f, 47), {100}, DType::F32),
       beta = pair(rnd(100, -1, 1, 48), {100}, DType::F32);
  Pair y = pair_empty({6, 100}, DType::BF16), mean = pair_empty({6}, DType::F32),
       rstd = pair_empty({6}, DType::F32);
  cpu().layernorm_forward(x.c, gamma.c, beta.c, 1e-5f, y.c, mean.c, rstd.c);
  gpu().layernorm_forward(x.g, gamma.g, beta.g, 1e-5f, y.g, mean.g, rstd.g);
  check_close(y, 2, 2e-5, "mixed layernorm");
}

TEST_CASE("cuda: softmax cross-entropy (ignore_index, confident rows) and the bad-label error") {
  // Past 1024 classes a block per row (online max and sum of exp): up to a GPT-2 vocabulary.
  for (DType dt : kFloatTypes)
    for (int64_t C : {1, 10, 1000, 1025, 50257}) {
      CAPTURE(name(dt));
      CAPTURE(C);
      const int64_t rows = 67;
      auto xv = rnd(size_t(rows * C), -5, 5, 50, dt);
      for (int64_t j = 0; j < C; ++j) xv[size_t(3 * C + j)] = round_dt(j == 0 ? 1e4f : -1e4f, dt);
      if (C >= 10) {
        for (int64_t j = 0; j < C / 2; ++j)  // leading -inf (not the label's: a finite loss)
          if (j != (2 * 7) % C) xv[size_t(2 * C + j)] = -INFINITY;
        xv[size_t(4 * C + C - 1)] = INFINITY;  // an infinite logit: a NaN loss on both engines
      }
      std::vector<int32_t> lab(static_cast<size_t>(rows));
      for (int64_t r = 0; r < rows; ++r) lab[size_t(r)] = int32_t((r * 7) % C);
      lab[5] = -100;  // ignored
      Pair x = pair(xv, {rows, C}, dt), labels = pair_i32(lab);
      Pair losses = pair_empty({rows}, DType::F32), d = pair_empty({rows, C}, dt);
      cpu().softmax_xent(x.c, labels.c, -100, 0.25f, losses.c, &d.c);
      gpu().softmax_xent(x.g, labels.g, -100, 0.25f, losses.g, &d.g);
      check_close(losses, 64, 1e-6, "losses");
      check_close(d, dt == DType::F32 ? 64 : 2, 1e-7, "dlogits");
      CHECK(floats(gpu(), losses.g)[5] == 0.0f);
      Pair l2 = pair_empty({rows}, DType::F32);
      cpu().softmax_xent(x.c, labels.c, -100, 1.0f, l2.c, nullptr);
      gpu().softmax_xent(x.g, labels.g, -100, 1.0f, l2.g, nullptr);
      check_close(l2, 64, 1e-6, "losses without gradient");
      Pair l3 = pair_empty({rows}, DType::F32);
      gpu().softmax_xent(x.g, labels.g, -100, 1.0f, l3.g, nullptr);
      CHECK(bytes(gpu(), l3.g) == bytes(gpu(), l2.g));  // deterministic
      if (C >= 10) CHECK(std::isnan(floats(gpu(), l2.g)[4]));
    }
  // Labels out of range: the same DataError (first bad row) from both.
  std::vector<int32_t> lab = {0, 3, 12, 1, -7};
  Pair x = pair(rnd(50, -1, 1, 51), {5, 10}, DType::F32), labels = pair_i32(lab);
  Pair losses = pair_empty({5}, DType::F32);
  std::string msg_c, msg_g;
  try {
    cpu().softmax_xent(x.c, labels.c, -100, 1.0f, losses.c, nullptr);
  } catch (const DataError& e) {
    msg_c = e.what();
  }
  try {
    gpu().softmax_xent(x.g, labels.g, -100, 1.0f, losses.g, nullptr);
  } catch (const DataError& e) {
    msg_g = e.what();
  }
  CHECK(!msg_c.empty());
  CHECK(msg_g == msg_c);
  // The GPU backend keeps working after the error.
  std::vector<int32_t> ok = {0, 1, 2, 3, 4};
  Pair good = pair_i32(ok);
  gpu().softmax_xent(x.g, good.g, -100, 1.0f, losses.g, nullptr);
  cpu().softmax_xent(x.c, good.c, -100, 1.0f, losses.c, nullptr);
  check_close(losses, 64, 1e-6, "after the error");
}

TEST_CASE("cuda: mse and argmax") {
  // One warp per row up to 1024 columns, a block per row beyond (ties across its threads).
  for (DType dt : kFloatTypes)
    for (int64_t cols : {1, 9, 31, 33, 700, 1024, 1025, 5000}) {
      CAPTURE(name(dt));
      CAPTURE(cols);
      const int64_t rows = 41;
      Pair p = pair(rnd(size_t(rows * cols), -3, 3, 60, dt), {rows, cols}, dt);
      Pair t = pair(rnd(size_t(rows * cols), -3, 3, 61, dt), {rows, cols}, dt);
      Pair losses = pair_empty({rows}, DType::F32), d = pair_empty({rows, cols}, dt);
      cpu().mse(p.c, t.c, 0.5f, losses.c, &d.c);
      gpu().mse(p.g, t.g, 0.5f, losses.g, &d.g);
      check_close(losses, 64, 1e-6, "mse losses");
      check_close(d, dt == DType::F32 ? 4 : 2, 0.0, "mse gradient");
      Tensor l2 = gpu().empty({rows}, DType::F32);
      gpu().mse(p.g, t.g, 0.5f, l2, nullptr);
      CHECK(bytes(gpu(), l2) == bytes(gpu(), losses.g));  // deterministic, with or without d
      // argmax: ties (first wins), NaNs skipped, all -inf / all NaN rows give 0.
      auto xv = rnd(size_t(rows * cols), -3, 3, 62, dt);
      for (int64_t r = 0; r < rows; ++r) {
        float* row = xv.data() + r * cols;
        if (r % 5 == 1 && cols > 3) row[cols - 1] = row[2] = 7.0f;
        if (r % 5 == 2) row[0] = NAN;
        if (r % 5 == 3) std::fill(row, row + cols, -INFINITY);
        if (r % 5 == 4) std::fill(row, row + cols, NAN);
      }
      Pair x = pair(xv, {rows, cols}, dt),
           out{cpu().empty({rows}, DType::I32), gpu().empty({rows}, DType::I32)};
      cpu().argmax_rows(x.c, out.c);
      gpu().argmax_rows(x.g, out.g);
      CHECK(bytes(cpu(), out.c) == bytes(gpu(), out.g));
    }
}

TEST_CASE("cuda: sum, sum_squares, unscale_and_check, magnitude_stats; deterministic") {
  for (DType dt : kFloatTypes)
    for (int64_t n : {0, 1, 1000, (1 << 20) + 3}) {
      CAPTURE(name(dt));
      CAPTURE(n);
      auto v = rnd(size_t(n), -1, 1, 70, dt);
      double mag = 0, mag2 = 0;
      for (float f : v) mag += std::fabs(f), mag2 += double(f) * f;
      Pair x = pair(v, {n}, dt);
      const double s_c = cpu().sum(x.c), s_g = gpu().sum(x.g);
      const double q_c = cpu().sum_squares(x.c), q_g = gpu().sum_squares(x.g);
      CHECK(std::fabs(s_c - s_g) <= 1e-6 * mag + 1e-12);
      CHECK(std::fabs(q_c - q_g) <= 1e-6 * mag2 + 1e-12);
      CHECK(gpu().sum(x.g) == s_g);
      CHECK(gpu().sum_squares(x.g) == q_g);
      int64_t bc = -1, bg = -1;
      float mc = -1, mg = -1;
      cpu().magnitude_stats(x.c, 1024.0f, 0.5f, bc, mc);
      gpu().magnitude_stats(x.g, 1024.0f, 0.5f, bg, mg);
      CHECK(bc == bg);
      CHECK(mc == mg);
      CHECK(cpu().unscale_and_check(x.c, 0.125f) == false);
      CHECK(gpu().unscale_and_check(x.g, 0.125f) == false);
      check_bits(x, "unscale");
    }
  for (DType dt : kFloatTypes)
    for (float bad : {INFINITY, -INFINITY, NAN}) {
      auto v = rnd(50000, -1, 1, 71, dt);
      v[31337] = bad;
      Pair x = pair(v, {50000}, dt);
      CHECK(cpu().unscale_and_check(x.c, 0.5f) == true);
      CHECK(gpu().unscale_and_check(x.g, 0.5f) == true);
      check_bits(x, "unscale with a non-finite element");
    }
}

TEST_CASE("cuda: SGD and AdamW steps, every (param, grad) dtype pair, stochastic bf16") {
  const int64_t n = 30001;
  for (DType pd : kFloatTypes)
    for (DType gd : kFloatTypes)
      for (int variant = 0; variant < 4; ++variant) {
        CAPTURE(name(pd));
        CAPTURE(name(gd));
        CAPTURE(variant);
        Pair p = pair(rnd(size_t(n), -1, 1, 80, pd), {n}, pd);
        Pair m = pair(rnd(size_t(n), -0.1f, 0.1f, 81), {n}, DType::F32);
        Pair v = pair(rnd(size_t(n), 0, 0.01f, 82), {n}, DType::F32);
        Rounding r;
        r.stochastic = variant == 3;
        r.seed = 99;
        r.offset = 5;
        r.first = 1237;  // a ZeRO-1 piece's start: both engines draw from first + i
        for (int step = 1; step <= 3; ++step) {
          Pair g = pair(rnd(size_t(n), -1, 1, 83 + uint32_t(step), gd), {n}, gd);
          if (variant < 2) {
            SgdHyper h;
            h.lr = 0.1f;
            h.momentum = variant == 0 ? 0.0f : 0.9f;
            h.nesterov = variant == 1;
            h.weight_decay = 0.01f;
            cpu().sgd_step(p.c, g.c, &m.c, h, r);
            gpu().sgd_step(p.g, g.g, &m.g, h, r);
          } else {
            AdamWHyper h;
            h.lr = 1e-2f;
            h.weight_decay = 0.1f;
            h.step = step;
            cpu().adamw_step(p.c, g.c, m.c, v.c, h, r);
            gpu().adamw_step(p.g, g.g, m.g, v.g, h, r);
          }
          r.offset++;
        }
        check_close(p, pd == DType::F32 ? 16 : 2, 1e-7, "param");
        check_close(m, 16, 1e-8, "momentum / m");
        if (variant >= 2) check_close(v, 16, 1e-10, "v");
        if (pd == DType::BF16 && r.stochastic) {  // the same random bits: nearly every element
          const auto a = bytes(cpu(), p.c), b = bytes(gpu(), p.g);
          int64_t same = 0;
          for (size_t i = 0; i < a.size(); i += 2) same += a[i] == b[i] && a[i + 1] == b[i + 1];
          CHECK(same >= n * 99 / 100);
        }
      }
}

TEST_CASE("cuda: random uniform bit for bit, normal within a few ulps") {
  const int64_t n = 100001;
  for (DType dt : kFloatTypes) {
    CAPTURE(name(dt));
    Pair u = pair_empty({n}, dt);
    cpu().random_uniform(u.c, 0.0f, 1.0f, 42, 7);
    gpu().random_uniform(u.g, 0.0f, 1.0f, 42, 7);
    check_bits(u, "uniform(0, 1)");
    cpu().random_uniform(u.c, -0.3f, 2.5f, 43, 1ull << 40);
    gpu().random_uniform(u.g, -0.3f, 2.5f, 43, 1ull << 40);
    check_close(u, 2, 0.0, "uniform(-0.3, 2.5)");
    Pair z = pair_empty({n}, dt);
    cpu().random_normal(z.c, 1.0f, 2.0f, 44, 3);
    gpu().random_normal(z.g, 1.0f, 2.0f, 44, 3);
    check_close(z, dt == DType::F32 ? 16 : 2, 1e-6, "normal");
  }
}

TEST_CASE("cuda: gemm in every dtype and transpose, alpha/beta/bias, within the fp32 bound") {
  const GemmCase cases[] = {{0, 1, 1, 1},   {0, 1, 7, 3},   {0, 5, 1, 9},     {0, 17, 33, 65},
                            {0, 64, 31, 1}, {0, 3, 5, 130}, {0, 33, 17, 257}, {0, 128, 256, 512}};
  uint32_t seed = 1;
  for (DType dt : kFloatTypes)
    for (int t = 0; t < 4; ++t)
      for (const GemmCase& c : cases) {
        const bool ta = t & 1, tb = t & 2;
        CAPTURE(name(dt));
        CAPTURE(ta);
        CAPTURE(tb);
        CAPTURE(c.M);
        CAPTURE(c.N);
        CAPTURE(c.K);
        run_gemm(dt, dt, ta, tb, c, 1.0f, 0.0f, 0, seed++);
        run_gemm(dt, dt, ta, tb, c, 0.7f, 0.3f, 1, seed++);   // bias kernel (alpha != 1)
        run_gemm(dt, dt, ta, tb, c, 1.0f, 1.0f, 2, seed++);   // BIAS epilogue
        run_gemm(dt, dt, ta, tb, c, 1.0f, -0.5f, 1, seed++);  // fp32 bias on a 16-bit C
        if (dt != DType::F32) {
          run_gemm(dt, DType::F32, ta, tb, c, 1.0f, 1.0f, 0, seed++);  // weight-gradient form
          run_gemm(dt, DType::F32, ta, tb, c, 1.0f, 0.0f, 1, seed++);
          run_gemm(dt, DType::F32, ta, tb, c, 0.5f, 1.0f, 2, seed++);
        }
        run_gemm(dt, dt, ta, tb, {3, c.M, c.N, c.K}, 1.0f, 0.0f, 0, seed++);  // batched
        run_gemm(dt, dt, ta, tb, {2, c.M, c.N, c.K}, 0.5f, 2.0f, 0, seed++);
        if (dt == DType::F32) run_gemm(dt, dt, ta, tb, c, 1.0f, 0.5f, 1, seed++, true);  // TF32
      }
}

TEST_CASE("cuda: gemm output is exactly the single RNE rounding of the exact result") {
  Backend& g = gpu();
  const int64_t M = 13, N = 11, K = 24;
  uint32_t seed = 100;
  for (DType dt : kFloatTypes)
    for (DType out : {dt, DType::F32})
      for (int t = 0; t < 4; ++t)
        for (int variant = 0; variant < 4; ++variant) {
          const bool ta = t & 1, tb = t & 2;
          // 0 plain; 1 alpha 0.5, beta 0.25, fp32 bias; 2 alpha 2, beta 1, bias in C's dtype;
          // 3 alpha 1, beta 1, bias in C's dtype (the BIAS epilogue)
          const float alpha = variant == 1 ? 0.5f : variant == 2 ? 2.0f : 1.0f;
          const float beta = variant == 0 ? 0.0f : variant == 1 ? 0.25f : 1.0f;
          const bool with_bias = variant != 0;
          const DType bias_dt = variant >= 2 ? out : DType::F32;
          CAPTURE(name(dt));
          CAPTURE(name(out));
          CAPTURE(ta);
          CAPTURE(tb);
          CAPTURE(variant);
          auto A = dyadic(size_t(M * K), seed++), B = dyadic(size_t(K * N), seed++);
          auto C0 = dyadic(size_t(M * N), seed++, 64, 1.0f);
          auto bias = dyadic(size_t(N), seed++, 16, 1.0f / 64);
          Tensor tA = make(g, A, a_shape(ta, M, K), dt), tB = make(g, B, b_shape(tb, K, N), dt);
          Tensor tC = make(g, C0, {M, N}, out), tbias = make(g, bias, {N}, bias_dt);
          g.gemm(ta, tb, alpha, tA, tB, beta, tC, with_bias ? &tbias : nullptr);
          std::vector<double> ref(size_t(M * N)), mag(size_t(M * N));
          reference(ta, tb, alpha, A.data(), B.data(), beta, C0.data(),
                    with_bias ? bias.data() : nullptr, M, N, K, ref.data(), mag.data());
          const auto got = floats(g, tC);
          for (size_t i = 0; i < got.size(); ++i) {
            REQUIRE(float(ref[i]) == ref[i]);
            const float want = round_dt(float(ref[i]), out);
            if (std::memcmp(&got[i], &want, 4) != 0) {
              FAIL_CHECK("element " << i << ": got " << got[i] << ", expected RNE(" << ref[i]
                                    << ") = " << want);
              break;
            }
          }
        }
  // 256 + 1 + 0.5 in bf16 is 258 (one rounding), not 256 (rounding twice); fp16 at 2048 likewise.
  for (DType dt : {DType::BF16, DType::F16})
    for (DType bias_dt : {DType::F32, dt}) {
      const float big = dt == DType::BF16 ? 256.0f : 2048.0f;
      Tensor A = make(g, {16.0f}, {1, 1}, dt), B = make(g, {big / 16.0f}, {1, 1}, dt);
      Tensor C = make(g, {1.0f}, {1, 1}, dt), bias = make(g, {0.5f}, {1}, bias_dt);
      g.gemm(false, false, 1.0f, A, B, 1.0f, C, &bias);
      CHECK(floats(g, C)[0] == big + 2.0f);
    }
}

TEST_CASE("cuda: gemm edge cases: K = 0, empty M/N, NaN in C with beta 0, views, flattened dims") {
  Backend& g = gpu();
  for (DType dt : kFloatTypes) {
    CAPTURE(name(dt));
    Tensor A = g.empty({3, 0}, dt), B = g.empty({0, 2}, dt);
    Tensor C = make(g, {1, 2, 3, 4, 5, 6}, {3, 2}, dt), bias = make(g, {10, 20}, {2}, DType::F32);
    g.gemm(false, false, 1.0f, A, B, 0.5f, C, &bias);
    CHECK(floats(g, C) == std::vector<float>{10.5f, 21, 11.5f, 22, 12.5f, 23});
    Tensor E = g.empty({0, 4}, dt), F = g.empty({4, 2}, dt), G = g.empty({0, 2}, dt);
    g.gemm(false, false, 1.0f, E, F, 0.0f, G);
    Tensor An = make(g, {1, 2, 3, 4}, {2, 2}, dt), Bn = make(g, {1, 0, 0, 1}, {2, 2}, dt);
    for (bool with_bias : {false, true}) {
      Tensor Cn = make(g, std::vector<float>(4, NAN), {2, 2}, dt);
      Tensor bn = make(g, {0, 0}, {2}, dt);
      g.gemm(false, false, 1.0f, An, Bn, 0.0f, Cn, with_bias ? &bn : nullptr);
      CHECK(floats(g, Cn) == std::vector<float>{1, 2, 3, 4});
    }
    // Views at odd element offsets (2- and 4-byte aligned), and A with leading dims [2, 3, K].
    const int64_t M = 6, N = 5, K = 7;
    auto Av = rnd(size_t((M + 1) * K), -1, 1, 90, dt), Bv = rnd(size_t((K + 1) * N), -1, 1, 91, dt);
    Pair Ab = pair(Av, {M + 1, K}, dt), Bb = pair(Bv, {K + 1, N}, dt);
    Pair Cb = pair(rnd(size_t((M + 1) * N), -1, 1, 92, dt), {M + 1, N}, dt);
    Pair bb = pair(rnd(size_t(N + 1), -1, 1, 93, dt), {N + 1}, dt);
    for (Backend* be : {&cpu(), &gpu()}) {
      const bool c = be == &cpu();
      Tensor a = (c ? Ab.c : Ab.g).slice_rows(1, M + 1).reshape({2, 3, K});
      Tensor b = (c ? Bb.c : Bb.g).slice_rows(1, K + 1);
      Tensor cc = (c ? Cb.c : Cb.g).slice_rows(1, M + 1).reshape({2, 3, N});
      Tensor bias_v = (c ? bb.c : bb.g).flat_range(1, N);
      be->gemm(false, false, 1.0f, a, b, 1.0f, cc, &bias_v);
    }
    check_close(Cb, dt == DType::F32 ? 64 : 2, 1e-5, "unaligned views");
  }
}

TEST_CASE("cuda: allow_tf32 hook") {
  CHECK(!set_allow_tf32(cpu(), true));
  if (selftest()) return;
  Backend& g = gpu();
  CHECK(set_allow_tf32(g, true));
  CHECK(g.name().find("tf32") != std::string::npos);
  CHECK(set_allow_tf32(g, false));
  CHECK(g.name().find("tf32") == std::string::npos);
  BackendOptions o;
  o.allow_tf32 = true;
  auto opt = make_cuda_backend(0, o);
  CHECK(opt->name().find("tf32") != std::string::npos);
}

TEST_CASE("cuda: embedding gather and deterministic scatter-add bit for bit, and the bad-id error") {
  for (DType dt : kFloatTypes)
    for (auto [V, D, N] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 5}, {7, 33, 200}, {300, 128, 4095}}) {
      CAPTURE(name(dt));
      CAPTURE(V);
      CAPTURE(D);
      // ids with heavy repeats (a few hot tokens), as fp32 like the model input [B, T]
      std::vector<float> idv(static_cast<size_t>(N));
      for (int64_t i = 0; i < N; ++i) idv[size_t(i)] = float((i * 7 + (i % 3) * 11) % (i % 4 ? std::min<int64_t>(V, 5) : V));
      Pair ids = pair(idv, {N / 5, 5}, DType::F32);
      Pair w = pair(rnd(size_t(V * D), -1, 1, 60, dt), {V, D}, dt);
      Pair y = pair_empty({N, D}, dt);
      cpu().embedding_forward(ids.c, w.c, y.c);
      gpu().embedding_forward(ids.g, w.g, y.g);
      check_bits(y, "embedding_forward");
      Pair dy = pair(rnd(size_t(N * D), -1, 1, 61, dt), {N, D}, dt);
      const auto dw0 = rnd(size_t(V * D), -1, 1, 62);
      Pair dw = pair(dw0, {V, D}, DType::F32);
      cpu().embedding_backward(ids.c, dy.c, dw.c);
      gpu().embedding_backward(ids.g, dy.g, dw.g);
      check_bits(dw, "embedding_backward");  // same per-row order on both engines
      Tensor again = make(gpu(), dw0, {V, D}, DType::F32);
      gpu().embedding_backward(ids.g, dy.g, again);
      CHECK(bytes(gpu(), again) == bytes(gpu(), dw.g));
    }
  // A bad id: the same DataError from both engines, and the GPU engine keeps working.
  Pair ids = pair({0, 1, 2, 3, 9, 1}, {2, 3}, DType::F32);
  Pair w = pair(rnd(20, -1, 1, 63), {5, 4}, DType::F32), y = pair_empty({6, 4}, DType::F32);
  std::string msg_c, msg_g;
  try {
    cpu().embedding_forward(ids.c, w.c, y.c);
  } catch (const DataError& e) {
    msg_c = e.what();
  }
  try {
    gpu().embedding_forward(ids.g, w.g, y.g);
  } catch (const DataError& e) {
    msg_g = e.what();
  }
  CHECK(msg_c.find("token id 9 at sample 1, position 1 of the batch") != std::string::npos);
  CHECK(msg_g == msg_c);
  Pair ok = pair({0, 1, 2, 3, 4, 1}, {2, 3}, DType::F32);
  cpu().embedding_forward(ok.c, w.c, y.c);
  gpu().embedding_forward(ok.g, w.g, y.g);
  check_bits(y, "embedding_forward after the error");
}

// The deferred ops (issue 12): the GPU builds the per-token position lists on the device (radix
// sort + binary search) where the CPU counts on the host; both must give the same bits, record
// the same bad id, and the GPU's gradient must not depend on the run.
TEST_CASE("cuda: deferred embedding ops bit for bit, device-side index, bad ids recorded alike") {
  embedding_test::embedding_deferred_matches(gpu());
  for (DType dt : kFloatTypes)
    for (auto [V, D, N] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 5}, {7, 33, 1001},
                           {300, 128, 4093}, {3000, 17, 2047}, {4099, 3, 12289}}) {
      CAPTURE(name(dt));
      CAPTURE(V);
      CAPTURE(N);
      std::vector<float> idv(static_cast<size_t>(N));  // hot tokens and the whole range
      for (int64_t i = 0; i < N; ++i) idv[size_t(i)] = float((i * 7 + (i % 3) * 11) % (i % 4 ? std::min<int64_t>(V, 5) : V));
      for (int pass = 0; pass < 2; ++pass) {  // clean ids, then bad ones at several positions
        CAPTURE(pass);
        if (pass == 1) {
          idv[size_t(N - 1)] = float(V);
          idv[size_t(N / 2)] = -3.0f;
          idv[size_t(N / 3)] = 1.5f;
        }
        Pair ids = pair(idv, {N}, DType::F32);
        Pair w = pair(rnd(size_t(V * D), -1, 1, 70, dt), {V, D}, dt);
        Pair y = pair_empty({N, D}, dt);
        Tensor sc = cpu().make_step_stats(), sg = gpu().make_step_stats();
        cpu().embedding_forward_deferred(ids.c, w.c, y.c, sc);
        gpu().embedding_forward_deferred(ids.g, w.g, y.g, sg);
        check_bits(y, "embedding_forward_deferred");
        Pair dy = pair(rnd(size_t(N * D), -1, 1, 71, dt), {N, D}, dt);
        const auto dw0 = rnd(size_t(V * D), -1, 1, 72);
        Pair dw = pair(dw0, {V, D}, DType::F32);
        cpu().embedding_backward_deferred(ids.c, dy.c, dw.c, sc);
        gpu().embedding_backward_deferred(ids.g, dy.g, dw.g, sg);
        check_bits(dw, "embedding_backward_deferred");
        Tensor again = make(gpu(), dw0, {V, D}, DType::F32);
        gpu().embedding_backward_deferred(ids.g, dy.g, again, sg);
        CHECK(bytes(gpu(), again) == bytes(gpu(), dw.g));
        CHECK(bytes(cpu(), sc) == bytes(gpu(), sg));
        const StepStats s = gpu().read_step_stats(sg);
        CHECK(s.bad_token == (pass == 1));
        if (pass == 1 && N > 3) {
          CHECK(s.bad_token_index == N / 3);
          CHECK(s.bad_token_id == 1.5f);
        }
      }
    }
}

TEST_CASE("cuda: attention ops: head permutes bit for bit, causal softmax within a few ulps") {
  for (DType dt : kFloatTypes) {
    CAPTURE(name(dt));
    for (auto [B, T, P, H, d] : {std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>{2, 5, 3, 2, 4},
                                 {1, 1, 1, 1, 1}, {3, 33, 1, 4, 16}}) {
      const int64_t W = P * H * d;
      Pair x = pair(rnd(size_t(B * T * W), -2, 2, 60, dt), {B, T, W}, dt);
      Pair h = pair_empty({P * B * H, T, d}, dt), back = pair_empty({B, T, W}, dt);
      cpu().split_heads(x.c, h.c, P, H);
      gpu().split_heads(x.g, h.g, P, H);
      check_bits(h, "split_heads");
      cpu().merge_heads(h.c, back.c, P, H);
      gpu().merge_heads(h.g, back.g, P, H);
      check_bits(back, "merge_heads");
    }
    for (auto [N, T] : {std::pair<int64_t, int64_t>{1, 1}, {3, 7}, {2, 33}, {4, 130}}) {
      CAPTURE(T);
      auto sv = rnd(size_t(N * T * T), -8, 8, 61, dt);
      // Masked scores are never read: inf there must change nothing on either engine.
      for (size_t i = 0; i < sv.size(); ++i)
        if (int64_t(i) % T > (int64_t(i) / T) % T) sv[i] = INFINITY;
      Pair s = pair(sv, {N, T, T}, dt), p = pair_empty({N, T, T}, dt);
      cpu().causal_softmax_forward(s.c, p.c);
      gpu().causal_softmax_forward(s.g, p.g);
      // fp16 subnormals (below 2^-14) have a fixed quantum: one of it allowed absolutely.
      check_close(p, dt == DType::F32 ? 64 : 2, dt == DType::F16 ? 6e-8 : 0, "causal_softmax p");
      // Backward from the CPU's probabilities on both, so only the backward is compared.
      const auto pc = floats(cpu(), p.c);
      Pair p2 = pair(pc, {N, T, T}, dt);
      Pair dp = pair(rnd(size_t(N * T * T), -1, 1, 62, dt), {N, T, T}, dt),
           ds = pair_empty({N, T, T}, dt);
      cpu().causal_softmax_backward(p2.c, dp.c, ds.c);
      gpu().causal_softmax_backward(p2.g, dp.g, ds.g);
      check_close(ds, dt == DType::F32 ? 64 : 2, 1e-6, "causal_softmax ds");
      // Deterministic, and masked entries exactly zero on the GPU too.
      Tensor p3 = gpu().empty({N, T, T}, dt);
      gpu().causal_softmax_forward(s.g, p3);
      CHECK(bytes(gpu(), p3) == bytes(gpu(), p.g));
      const auto pg = floats(gpu(), p.g);
      for (size_t i = 0; i < pg.size(); ++i)
        if (int64_t(i) % T > (int64_t(i) / T) % T) REQUIRE(pg[i] == 0.0f);
    }
  }
}

TEST_CASE("cuda: fused attention (flash kernels) against the CPU's fused reference") {
  for (DType dt : kFloatTypes)
    for (int64_t d : {32, 64, 128})
      for (int64_t T : {1, 7, 64, 130}) {
        CAPTURE(name(dt));
        CAPTURE(d);
        CAPTURE(T);
        const int64_t N = 3;
        const Shape sh{N, T, d};
        const size_t n = size_t(N * T * d);
        Pair q = pair(rnd(n, -1, 1, 70, dt), sh, dt), k = pair(rnd(n, -1, 1, 71, dt), sh, dt),
             v = pair(rnd(n, -1, 1, 72, dt), sh, dt), dout = pair(rnd(n, -1, 1, 73, dt), sh, dt);
        const float scale = 1.0f / std::sqrt(float(d));
        Pair out = pair_empty(sh, dt), lse = pair_empty({N, T}, DType::F32);
        cpu().attention_forward(q.c, k.c, v.c, scale, out.c, lse.c);
        gpu().attention_forward(q.g, k.g, v.g, scale, out.g, lse.g);
        // fp32 sums over d products and T keys in another order (tiles, fma): a few fp32 ulps per
        // term against |out| <= 1; then one rounding to dt on each side (2 units: one ulp).
        const double f32 = 8.0 * double(d + T) * std::ldexp(1.0, -24);
        check_close(out, dt == DType::F32 ? 64 : 2, f32, "attention out");
        check_close(lse, 64, f32 * 8.0, "attention lse");
        // Backward from the CPU's out and lse on both, so only the backward is compared; the
        // gradients' scale is their largest element on the CPU.
        Pair o2 = pair(floats(cpu(), out.c), sh, dt), l2 = pair(floats(cpu(), lse.c), {N, T}, DType::F32);
        Pair dq = pair_empty(sh, dt), dk = pair_empty(sh, dt), dv = pair_empty(sh, dt);
        cpu().attention_backward(q.c, k.c, v.c, o2.c, dout.c, l2.c, scale, dq.c, dk.c, dv.c);
        gpu().attention_backward(q.g, k.g, v.g, o2.g, dout.g, l2.g, scale, dq.g, dk.g, dv.g);
        for (auto [p, what] : {std::pair<Pair*, const char*>{&dq, "dq"}, {&dk, "dk"}, {&dv, "dv"}}) {
          double mx = 0;
          for (float x : floats(cpu(), p->c)) mx = std::max(mx, double(std::fabs(x)));
          check_close(*p, dt == DType::F32 ? 64 : 2, 2.0 * f32 * (1.0 + mx), what);
        }
        // Deterministic: no atomics, the same bits on a second run.
        Tensor out3 = gpu().empty(sh, dt), lse3 = gpu().empty({N, T}, DType::F32);
        gpu().attention_forward(q.g, k.g, v.g, scale, out3, lse3);
        CHECK(bytes(gpu(), out3) == bytes(gpu(), out.g));
        CHECK(bytes(gpu(), lse3) == bytes(gpu(), lse.g));
        Tensor dk3 = gpu().empty(sh, dt), dq3 = gpu().empty(sh, dt), dv3 = gpu().empty(sh, dt);
        gpu().attention_backward(q.g, k.g, v.g, o2.g, dout.g, l2.g, scale, dq3, dk3, dv3);
        CHECK(bytes(gpu(), dq3) == bytes(gpu(), dq.g));
        CHECK(bytes(gpu(), dk3) == bytes(gpu(), dk.g));
        CHECK(bytes(gpu(), dv3) == bytes(gpu(), dv.g));
      }
  if (selftest()) return;  // the rest is the CUDA engine's own
  // Head dims without a flash kernel: the engine says so, and the op refuses them (the layer takes
  // the unfused path there).
  CHECK(!gpu().fused_attention_supports(48));
  CHECK(gpu().fused_attention_supports(64));
  Tensor q = gpu().empty({1, 4, 48}, DType::F32), lse = gpu().empty({1, 4}, DType::F32);
  gpu().fill(q, 0.5f);
  std::string msg;
  try {
    gpu().attention_forward(q, q, q, 0.5f, q, lse);
  } catch (const InternalError& e) {
    msg = e.what();
  }
  CHECK(msg.find("head dim 48 is not supported") != std::string::npos);
}

// ---- conv2d, pooling, group_norm (backend_vision.cpp) --------------------------------------------

TEST_CASE("cuda: conv2d forward, backward data and weights (im2col + GEMM) against oneDNN") {
  struct C {
    int64_t n, c, h, w, k, kern, st, pad, dil, groups;
  };
  for (const C& s : std::vector<C>{{2, 3, 9, 7, 5, 3, 1, 1, 1, 1},
                                   {3, 4, 8, 8, 6, 3, 2, 1, 1, 2},
                                   {1, 2, 11, 9, 3, 3, 1, 2, 2, 1},
                                   {4, 1, 28, 28, 8, 5, 1, 2, 1, 1}})
    for (DType dt : kFloatTypes) {
      CAPTURE(name(dt));
      CAPTURE(s.groups);
      CAPTURE(s.dil);
      const Conv2dDesc d = make_conv2d_desc(
          s.n, s.c, s.h, s.w, s.k, s.groups,
          Window2d{s.kern, s.kern, s.st, s.st, s.pad, s.pad, s.dil, s.dil});
      const Shape xs{s.n, s.c, s.h, s.w}, ws{s.k, s.c / s.groups, s.kern, s.kern},
          ys{s.n, s.k, d.oh, d.ow};
      Pair x = pair(rnd(size_t(shape_numel(xs)), -1, 1, 60, dt), xs, dt);
      Pair w = pair(rnd(size_t(shape_numel(ws)), -0.5f, 0.5f, 61, dt), ws, dt);
      Pair b = pair(rnd(size_t(s.k), -1, 1, 62), {s.k}, DType::F32);
      Pair y = pair_empty(ys, dt);
      cpu().conv2d_forward(x.c, w.c, &b.c, y.c, d);
      gpu().conv2d_forward(x.g, w.g, &b.g, y.g, d);
      // fp32 accumulation in another order: a few units of fp32 roundoff over the taps, plus one
      // rounding to dt (so 2 units of dt's roundoff for fp16/bf16).
      const double k = dt == DType::F32 ? 64 : 2, tol = 1e-5 * double(s.c * s.kern * s.kern);
      check_close(y, k, tol, "y");
      Pair dy = pair(rnd(size_t(shape_numel(ys)), -1, 1, 63, dt), ys, dt);
      Pair dx = pair_empty(xs, dt);
      cpu().conv2d_backward_data(dy.c, w.c, dx.c, d);
      gpu().conv2d_backward_data(dy.g, w.g, dx.g, d);
      check_close(dx, k, tol, "dx");
      const auto w0 = rnd(size_t(shape_numel(ws)), -1, 1, 64), b0 = rnd(size_t(s.k), -1, 1, 65);
      Pair dw = pair(w0, ws, DType::F32), db = pair(b0, {s.k}, DType::F32);
      cpu().conv2d_backward_weights(x.c, dy.c, dw.c, &db.c, d);
      gpu().conv2d_backward_weights(x.g, dy.g, dw.g, &db.g, d);
      const double rows = double(s.n * d.oh * d.ow);
      check_close(dw, 64, 1e-5 * rows, "dw (accumulated)");
      check_close(db, 64, 1e-5 * rows, "db (accumulated)");
    }
}

TEST_CASE("cuda: max/avg pooling forward and backward bit for bit, group_norm within roundoff") {
  for (DType dt : kFloatTypes)
    for (const Window2d& win : {Window2d{2, 2, 2, 2, 0, 0, 1, 1}, Window2d{3, 3, 2, 2, 1, 1, 1, 1},
                                Window2d{3, 3, 1, 1, 1, 1, 1, 1}})
      for (bool max : {true, false}) {
        CAPTURE(name(dt));
        CAPTURE(max);
        CAPTURE(win.kh);
        const Pool2dDesc d = make_pool2d_desc(3, 5, 13, 11, win);
        const Shape xs{3, 5, 13, 11}, ys{3, 5, d.oh, d.ow};
        Pair x = pair(rnd(size_t(shape_numel(xs)), -2, 2, 70, dt), xs, dt);
        Pair y = pair_empty(ys, dt);
        Pair arg{cpu().empty(ys, DType::I32), gpu().empty(ys, DType::I32)};
        cpu().pool2d_forward(max, x.c, y.c, max ? &arg.c : nullptr, d);
        gpu().pool2d_forward(max, x.g, y.g, max ? &arg.g : nullptr, d);
        check_bits(y, "y");
        if (max) CHECK(bytes(cpu(), arg.c) == bytes(gpu(), arg.g));
        Pair dy = pair(rnd(size_t(shape_numel(ys)), -1, 1, 71, dt), ys, dt);
        Pair dx = pair_empty(xs, dt);
        cpu().pool2d_backward(dy.c, max ? &arg.c : nullptr, dx.c, d);
        gpu().pool2d_backward(dy.g, max ? &arg.g : nullptr, dx.g, d);
        check_bits(dx, "dx");
      }
  for (DType dt : kFloatTypes) {
    CAPTURE(name(dt));
    const int64_t n = 5, c = 12, groups = 4;
    const Shape xs{n, c, 7 * 9};
    Pair x = pair(rnd(size_t(shape_numel(xs)), -2, 3, 80, dt), xs, dt);
    Pair gamma = pair(rnd(size_t(c), 0.5f, 1.5f, 81, dt), {c}, dt);
    Pair beta = pair(rnd(size_t(c), -0.5f, 0.5f, 82, dt), {c}, dt);
    Pair y = pair_empty(xs, dt), mean = pair_empty({n * groups}, DType::F32),
         rstd = pair_empty({n * groups}, DType::F32);
    cpu().group_norm_forward(x.c, gamma.c, beta.c, groups, 1e-5f, y.c, mean.c, rstd.c);
    gpu().group_norm_forward(x.g, gamma.g, beta.g, groups, 1e-5f, y.g, mean.g, rstd.g);
    const double k = dt == DType::F32 ? 64 : 2;
    check_close(mean, 64, 1e-6, "mean");
    check_close(rstd, 64, 1e-6, "rstd");
    check_close(y, k, 2e-5, "y");
    Pair dy = pair(rnd(size_t(shape_numel(xs)), -1, 1, 83, dt), xs, dt), dx = pair_empty(xs, dt);
    const auto g0 = rnd(size_t(c), -1, 1, 84), b0 = rnd(size_t(c), -1, 1, 85);
    Pair dgamma = pair(g0, {c}, DType::F32), dbeta = pair(b0, {c}, DType::F32);
    cpu().group_norm_backward(dy.c, x.c, gamma.c, groups, mean.c, rstd.c, dx.c, dgamma.c, dbeta.c);
    gpu().group_norm_backward(dy.g, x.g, gamma.g, groups, mean.g, rstd.g, dx.g, dgamma.g, dbeta.g);
    check_close(dx, k, 1e-4, "dx");
    check_close(dgamma, 64, 1e-4, "dgamma");
    check_close(dbeta, 64, 1e-4, "dbeta");
  }
}

// ---- issue 12: vectorised elementwise maps, fused add + layernorm (long rows: above) -----------

TEST_CASE("cuda: vectorised elementwise maps on views at every alignment, bit for bit") {
  // Views from flat_range start anywhere: a scalar head, 16-byte vectors, a scalar tail, and a
  // scalar-only map when the operands' alignments differ (a at off, b at off + 1).
  for (DType dt : kFloatTypes)
    for (int64_t off : {0, 1, 2, 3, 5, 8})
      for (int64_t n : {1, 7, 8, 9, 33, 1003}) {
        CAPTURE(name(dt));
        CAPTURE(off);
        CAPTURE(n);
        const int64_t total = n + 16;
        auto av = rnd(size_t(total), -4, 4, 90, dt), bv = rnd(size_t(total), -4, 4, 91, dt);
        Pair A = pair(av, {total}, dt), B = pair(bv, {total}, dt), O = pair_empty({total}, dt);
        cpu().fill(O.c, 0.0f);
        gpu().fill(O.g, 0.0f);
        auto view = [&](Pair& p, int64_t at) { return Pair{p.c.flat_range(at, n), p.g.flat_range(at, n)}; };
        for (int64_t boff : {off, off + 1}) {
          Pair a = view(A, off), b = view(B, boff), o = view(O, off);
          cpu().add(a.c, b.c, o.c);
          gpu().add(a.g, b.g, o.g);
          check_bits(O, "add");
          cpu().activation_backward(Act::Relu, a.c, b.c, o.c);
          gpu().activation_backward(Act::Relu, a.g, b.g, o.g);
          check_bits(O, "relu backward");
        }
        Pair a = view(A, off), o = view(O, off + 3);
        cpu().activation_forward(Act::Relu, a.c, o.c);
        gpu().activation_forward(Act::Relu, a.g, o.g);
        check_bits(O, "relu forward");
        cpu().dropout_forward(a.c, o.c, 0.3f, 99, 5);
        gpu().dropout_forward(a.g, o.g, 0.3f, 99, 5);
        check_bits(O, "dropout (mask of the view's element index)");
        cpu().scale(a.c, 0.7f);  // in place
        gpu().scale(a.g, 0.7f);
        check_bits(A, "scale in place");
        cpu().accumulate(view(B, off).c, a.c);
        gpu().accumulate(view(B, off).g, a.g);
        check_bits(A, "accumulate");
        cpu().fill(o.c, 1.5f);
        gpu().fill(o.g, 1.5f);
        check_bits(O, "fill");
        // A NaN in the cast's first element: the store's NaN path (core/half.h's payload). Not
        // before the arithmetic above: a GPU fp32 operation returns the canonical NaN.
        Pair first = view(A, off);
        first.c = first.c.flat_range(0, 1);
        first.g = first.g.flat_range(0, 1);
        cpu().fill(first.c, NAN);
        gpu().fill(first.g, NAN);
        for (DType to : kFloatTypes) {
          if (to == dt) continue;
          Pair D = pair_empty({total}, to);
          cpu().fill(D.c, 0.0f);
          gpu().fill(D.g, 0.0f);
          Pair d{D.c.flat_range(off + 1, n), D.g.flat_range(off + 1, n)};
          cpu().cast(a.c, d.c);
          gpu().cast(a.g, d.g);
          check_bits(D, "cast to " + name(to));
        }
      }
}

TEST_CASE("cuda: add_layernorm_forward (the residual add fused with layernorm)") {
  for (DType dt : kFloatTypes)
    for (DType gdt : {dt, DType::F32})
      for (int64_t cols : {7, 64, 1000, 1025, 4096, 12000})
        for (bool alias : {false, true}) {
          CAPTURE(name(dt));
          CAPTURE(name(gdt));
          CAPTURE(cols);
          CAPTURE(alias);
          const int64_t rows = 9, n = rows * cols;
          Pair a = pair(rnd(size_t(n), 1, 5, 120, dt), {rows, cols}, dt);
          Pair b = pair(rnd(size_t(n), -0.3f, 0.3f, 121, dt), {rows, cols}, dt);
          Pair gamma = pair(rnd(size_t(cols), 0.5f, 1.5f, 122, gdt), {cols}, gdt);
          Pair beta = pair(rnd(size_t(cols), -0.5f, 0.5f, 123, gdt), {cols}, gdt);
          Pair s = alias ? a : pair_empty({rows, cols}, dt), y = pair_empty({rows, cols}, dt);
          Pair mean = pair_empty({rows}, DType::F32), rstd = pair_empty({rows}, DType::F32);
          cpu().add_layernorm_forward(a.c, b.c, gamma.c, beta.c, 1e-5f, s.c, y.c, mean.c, rstd.c);
          gpu().add_layernorm_forward(a.g, b.g, gamma.g, beta.g, 1e-5f, s.g, y.g, mean.g, rstd.g);
          check_bits(s, "sum_out");  // elementwise: exact
          check_close(mean, 64, 1e-6, "mean");
          check_close(rstd, 64, 1e-6, "rstd");
          check_close(y, dt == DType::F32 ? 64 : 2, 2e-5, "y");
        }
}

// ---- the fused Linear ops (cuBLASLt GELU_AUX_BIAS, DGELU, BGRADB epilogues; cuda_gemm.h) ------
// Shapes with M, N, K multiples of 8 take the epilogues (when cuBLASLt has an algorithm); the odd
// ones must fall back to the separate ops cleanly (aux leading dimension N % 8 != 0). The CUDA
// engine skips the rounding of pre before gelu (forward) and of dy w before gelu' (DGELU) that
// the CPU engine's composition does, and its GELU's tanh is its own: the bounds below are those
// of that difference, element by element (never run on a GPU yet).

namespace {

double gelu_tanh_grad_bound() { return 1.13; }  // max |gelu_tanh'(x)| (at x ~ 1.5)

struct LinCase {
  int64_t M, N, K;
};
const LinCase kLinCases[] = {{64, 32, 48}, {128, 96, 64}, {7, 13, 9}, {16, 12, 8}, {8, 16, 5}};
std::string lin_case(DType dt, const LinCase& c) {
  return name(dt) + " M=" + std::to_string(c.M) + " N=" + std::to_string(c.N) +
         " K=" + std::to_string(c.K);
}

// |cpu - cuda| <= 2 u (|cpu| + |cuda|) + 1.13 (u |between| + acc) + 1e-6 (1 + |between|) per
// element: two roundings of the output, the skipped rounding of the value between the GEMM and
// the gelu (scaled by gelu''s bound), the fp32 accumulation-order bound `acc`, and the
// difference of the tanh implementations.
void check_fused(const std::vector<float>& c, const std::vector<float>& g,
                 const std::vector<double>& between, DType dt, double acc, const std::string& what) {
  REQUIRE(c.size() == g.size());
  const double u = unit_roundoff(dt);
  for (size_t i = 0; i < c.size(); ++i) {
    const double b = std::fabs(between[i]);
    const double tol = 2 * u * (std::fabs(c[i]) + std::fabs(g[i])) +
                       gelu_tanh_grad_bound() * (u * b + acc) + 1e-6 * (1 + b);
    if (!(std::fabs(double(c[i]) - g[i]) <= tol)) {
      FAIL_CHECK(what << ": element " << i << ": cpu " << c[i] << ", cuda " << g[i] << " (tol "
                      << tol << ")");
      return;
    }
  }
}

}  // namespace

TEST_CASE("cuda: linear_gelu_forward (GELU_AUX_BIAS) against the CPU's gemm + gelu") {
  uint32_t seed = 900;
  for (DType dt : kFloatTypes)
    for (const LinCase& c : kLinCases)
      for (bool with_bias : {true, false}) {
        INFO(lin_case(dt, c));
        CAPTURE(with_bias);
        Pair x = pair(rnd(size_t(c.M * c.K), -1, 1, seed++, dt), {c.M, c.K}, dt);
        Pair w = pair(rnd(size_t(c.N * c.K), -1, 1, seed++, dt), {c.N, c.K}, dt);
        Pair b = pair(rnd(size_t(c.N), -1, 1, seed++, dt), {c.N}, dt);
        Pair pre = pair_empty({c.M, c.N}, dt), y = pair_empty({c.M, c.N}, dt);
        cpu().linear_gelu_forward(x.c, w.c, with_bias ? &b.c : nullptr, pre.c, y.c);
        gpu().linear_gelu_forward(x.g, w.g, with_bias ? &b.g : nullptr, pre.g, y.g);
        const double acc = 2.0 * double(c.K + 1) * std::ldexp(1.0, -24) * double(c.K + 1);
        check_close(pre, 2, acc, "pre");  // the aux: one rounding of the same fp32 value
        const std::vector<float> pc = floats(cpu(), pre.c);
        check_fused(floats(cpu(), y.c), floats(gpu(), y.g), std::vector<double>(pc.begin(), pc.end()),
                    dt, acc, "y");
        Pair y2 = pair_empty({c.M, c.N}, dt), pre2 = pair_empty({c.M, c.N}, dt);
        gpu().linear_gelu_forward(x.g, w.g, with_bias ? &b.g : nullptr, pre2.g, y2.g);
        CHECK(bytes(gpu(), y2.g) == bytes(gpu(), y.g));  // deterministic
      }
}

TEST_CASE("cuda: linear_dgelu_backward (DGELU) against the CPU's gemm + gelu backward") {
  uint32_t seed = 950;
  for (DType dt : kFloatTypes)
    for (const LinCase& c : kLinCases) {  // dy [M, N], w [N, K], pre/dpre [M, K]
      INFO(lin_case(dt, c));
      const auto dyv = rnd(size_t(c.M * c.N), -1, 1, seed++, dt);
      const auto wv = rnd(size_t(c.N * c.K), -1, 1, seed++, dt);
      Pair dy = pair(dyv, {c.M, c.N}, dt), w = pair(wv, {c.N, c.K}, dt);
      Pair pre = pair(rnd(size_t(c.M * c.K), -3, 3, seed++, dt), {c.M, c.K}, dt);
      Pair dpre = pair_empty({c.M, c.K}, dt);
      cpu().linear_dgelu_backward(dy.c, w.c, pre.c, dpre.c);
      gpu().linear_dgelu_backward(dy.g, w.g, pre.g, dpre.g);
      std::vector<double> prod(size_t(c.M * c.K), 0.0);  // dy w in fp64: the skipped rounding
      for (int64_t i = 0; i < c.M; ++i)
        for (int64_t j = 0; j < c.N; ++j)
          for (int64_t k = 0; k < c.K; ++k)
            prod[size_t(i * c.K + k)] += double(dyv[size_t(i * c.N + j)]) * wv[size_t(j * c.K + k)];
      const double acc = 2.0 * double(c.N) * std::ldexp(1.0, -24) * double(c.N);
      check_fused(floats(cpu(), dpre.c), floats(gpu(), dpre.g), prod, dt, acc, "dpre");
    }
}

TEST_CASE("cuda: linear_param_grad (BGRADB) against the CPU's gemm + bias_grad, beta 0 / 1 / 0.5") {
  uint32_t seed = 1000;
  for (DType dt : kFloatTypes)
    for (const LinCase& c : kLinCases)  // dy [M, N], x [M, K], dw [N, K], db [N]
      for (float beta : {0.0f, 1.0f, 0.5f}) {
        INFO(lin_case(dt, c));
        CAPTURE(beta);
        Pair dy = pair(rnd(size_t(c.M * c.N), -1, 1, seed++, dt), {c.M, c.N}, dt);
        Pair x = pair(rnd(size_t(c.M * c.K), -1, 1, seed++, dt), {c.M, c.K}, dt);
        const auto dw0 = rnd(size_t(c.N * c.K), -1, 1, seed++);
        const auto db0 = rnd(size_t(c.N), -1, 1, seed++);
        Pair dw = pair(dw0, {c.N, c.K}, DType::F32), db = pair(db0, {c.N}, DType::F32);
        cpu().linear_param_grad(dy.c, x.c, beta, dw.c, db.c);
        gpu().linear_param_grad(dy.g, x.g, beta, dw.g, db.g);
        const double acc = 2.0 * double(c.M + 1) * std::ldexp(1.0, -24) * double(c.M + 1);
        check_close(dw, 2, acc, "dw");
        check_close(db, 8, 1e-6 * double(c.M + 1), "db");
        Pair dw2 = pair(dw0, {c.N, c.K}, DType::F32), db2 = pair(db0, {c.N}, DType::F32);
        gpu().linear_param_grad(dy.g, x.g, beta, dw2.g, db2.g);
        CHECK(bytes(gpu(), db2.g) == bytes(gpu(), db.g));  // deterministic
        CHECK(bytes(gpu(), dw2.g) == bytes(gpu(), dw.g));
      }
}

// Issue 12: the step-stats and multi-tensor ops of the CUDA engine against its own per-tensor ops,
// bit for bit (multi_tensor_check.h: check_grads' fp64 norm and flags, the one-launch AdamW/SGD
// over mixed dtypes with per-parameter decay and stochastic rounding, sum_into, the deferred
// bad label), then the step-stats values against the CPU engine's.
TEST_CASE("cuda: check_grads, multi-tensor AdamW/SGD, sum_into, deferred bad label (issue 12)") {
  multi_test::check_grads_matches_loop(gpu());
  multi_test::adamw_multi_matches_fused(gpu());
  multi_test::sgd_multi_matches_fused(gpu());
  multi_test::sum_into_matches_sum(gpu());
  multi_test::softmax_xent_deferred_matches(gpu());
  // Across engines: the same gradients give the same flags and a norm within fp64 reordering.
  const std::vector<float> v = multi_test::rnd(100003, -3.0f, 3.0f, 5);
  const Tensor gc = multi_test::host_tensor(cpu(), v, DType::F32);
  const Tensor gg = multi_test::host_tensor(gpu(), v, DType::F32);
  Tensor sc = cpu().make_step_stats(), sg = gpu().make_step_stats();
  cpu().check_grads({&gc, &gc}, 0.5f, sc);
  gpu().check_grads({&gg, &gg}, 0.5f, sg);
  const StepStats c = cpu().read_step_stats(sc), g = gpu().read_step_stats(sg);
  CHECK(c.nonfinite == g.nonfinite);
  CHECK(g.sum_squares == doctest::Approx(c.sum_squares).epsilon(1e-12));
}

// ---- issue 12 (kern2): Philox runs in the vectorised maps, 16-byte loads in the row kernels
// (long mse/argmax rows: "cuda: mse and argmax" above). Never run on a GPU yet (written without
// one; the selftest runs them CPU-vs-CPU).

namespace {

// rows x cols values of dtype dt as a view starting `off` elements into a larger buffer (off 1:
// every row start unaligned for 16-byte loads), with the buffer itself (its head stays 0).
struct RowView {
  Pair buf, v;
};
RowView row_view(const std::vector<float>& vals, int64_t rows, int64_t cols, int64_t off, DType dt) {
  std::vector<float> all(size_t(off), 0.0f);
  all.insert(all.end(), vals.begin(), vals.end());
  RowView r;
  r.buf = pair(all, {int64_t(all.size())}, dt);
  r.v = {r.buf.c.flat_range(off, rows * cols).reshape({rows, cols}),
         r.buf.g.flat_range(off, rows * cols).reshape({rows, cols})};
  return r;
}
RowView row_view_empty(int64_t rows, int64_t cols, int64_t off, DType dt) {
  return row_view(std::vector<float>(size_t(rows * cols), 0.0f), rows, cols, off, dt);
}

}  // namespace

TEST_CASE("cuda (kern2): uniform fills and dropout on views at every Philox phase, odd sizes") {
  // A vector step of K elements starting at index i0 takes the words of every Philox block it
  // touches (i0 % 4 != 0: K / 4 + 1 blocks): views at offsets 0..7 put i0 at every phase.
  for (DType dt : kFloatTypes)
    for (int64_t off = 0; off < 8; ++off)
      for (int64_t n : {1, 3, 4, 5, 8, 9, 17, 31, 1003, 65539}) {
        CAPTURE(name(dt));
        CAPTURE(off);
        CAPTURE(n);
        const int64_t total = n + 16;
        Pair U = pair_empty({total}, dt);
        cpu().fill(U.c, 0.0f);
        gpu().fill(U.g, 0.0f);
        Pair u{U.c.flat_range(off, n), U.g.flat_range(off, n)};
        cpu().random_uniform(u.c, -1.0f, 3.0f, 0x9E3779B97F4A7C15ull, 11 + uint64_t(off));
        gpu().random_uniform(u.g, -1.0f, 3.0f, 0x9E3779B97F4A7C15ull, 11 + uint64_t(off));
        check_bits(U, "uniform on a view");
        Pair X = pair(rnd(size_t(total), -2, 2, 130, dt), {total}, dt), Y = pair_empty({total}, dt);
        cpu().fill(Y.c, 0.0f);
        gpu().fill(Y.g, 0.0f);
        for (int64_t yoff : {off, (off + 3) % 8}) {  // same phase: vectors; another: scalar
          Pair x{X.c.flat_range(off, n), X.g.flat_range(off, n)};
          Pair y{Y.c.flat_range(yoff, n), Y.g.flat_range(yoff, n)};
          cpu().dropout_forward(x.c, y.c, 0.25f, 5, uint64_t{1} << 33);
          gpu().dropout_forward(x.g, y.g, 0.25f, 5, uint64_t{1} << 33);
          check_bits(Y, "dropout_forward on views");
          cpu().dropout_backward(x.c, y.c, 0.6f, 6, 3);
          gpu().dropout_backward(x.g, y.g, 0.6f, 6, 3);
          check_bits(Y, "dropout_backward on views");
        }
      }
}

TEST_CASE("cuda (kern2): row kernels on odd column counts and unaligned rows (16-byte loads)") {
  // cols * size % 16 != 0 or a base one element in: the scalar paths; 12 / 20 fp32 columns:
  // aligned rows with a short tail; the rest as in the cases above.
  for (DType dt : kFloatTypes)
    for (int64_t cols : {1, 3, 12, 20, 31, 33, 100, 257, 1023, 1026, 2049, 12003})
      for (int64_t off : {0, 1}) {
        CAPTURE(name(dt));
        CAPTURE(cols);
        CAPTURE(off);
        const int64_t rows = 19, n = rows * cols;
        const double k = dt == DType::F32 ? 64 : 2;
        RowView x = row_view(rnd(size_t(n), -2, 3, 150, dt), rows, cols, off, dt);
        Pair gamma = pair(rnd(size_t(cols), 0.5f, 1.5f, 151, dt), {cols}, dt);
        Pair beta = pair(rnd(size_t(cols), -0.5f, 0.5f, 152, dt), {cols}, dt);
        RowView y = row_view_empty(rows, cols, off, dt);
        Pair mean = pair_empty({rows}, DType::F32), rstd = pair_empty({rows}, DType::F32);
        cpu().layernorm_forward(x.v.c, gamma.c, beta.c, 1e-5f, y.v.c, mean.c, rstd.c);
        gpu().layernorm_forward(x.v.g, gamma.g, beta.g, 1e-5f, y.v.g, mean.g, rstd.g);
        check_close(mean, 64, 1e-6, "mean");
        check_close(rstd, 64, 1e-6, "rstd");
        check_close(y.buf, k, 2e-5, "layernorm y");
        // backward, dx in place over dy (the kernels read each element before writing it)
        RowView dy = row_view(rnd(size_t(n), -1, 1, 153, dt), rows, cols, off, dt);
        Pair m2{mean.c, make(gpu(), floats(cpu(), mean.c), {rows}, DType::F32)};
        Pair r2{rstd.c, make(gpu(), floats(cpu(), rstd.c), {rows}, DType::F32)};
        Pair dgamma = pair(std::vector<float>(size_t(cols), 0.0f), {cols}, DType::F32),
             dbeta = pair(std::vector<float>(size_t(cols), 0.0f), {cols}, DType::F32);
        cpu().layernorm_backward(dy.v.c, x.v.c, gamma.c, m2.c, r2.c, dy.v.c, dgamma.c, dbeta.c);
        gpu().layernorm_backward(dy.v.g, x.v.g, gamma.g, m2.g, r2.g, dy.v.g, dgamma.g, dbeta.g);
        check_close(dy.buf, k, 1e-4, "layernorm dx (in place)");
        check_close(dgamma, 64, 1e-5 * double(rows), "dgamma");
        check_close(dbeta, 64, 1e-5 * double(rows), "dbeta");
        // the residual add fused with layernorm, fp32 gamma/beta too
        for (DType gdt : {dt, DType::F32}) {
          CAPTURE(name(gdt));
          RowView b = row_view(rnd(size_t(n), -0.3f, 0.3f, 154, dt), rows, cols, off, dt);
          RowView s = row_view_empty(rows, cols, off, dt), y2 = row_view_empty(rows, cols, off, dt);
          Pair g2 = pair(rnd(size_t(cols), 0.5f, 1.5f, 155, gdt), {cols}, gdt);
          Pair b2 = pair(rnd(size_t(cols), -0.5f, 0.5f, 156, gdt), {cols}, gdt);
          cpu().add_layernorm_forward(x.v.c, b.v.c, g2.c, b2.c, 1e-5f, s.v.c, y2.v.c, mean.c, rstd.c);
          gpu().add_layernorm_forward(x.v.g, b.v.g, g2.g, b2.g, 1e-5f, s.v.g, y2.v.g, mean.g, rstd.g);
          check_bits(s.buf, "add_layernorm sum_out");
          check_close(mean, 64, 1e-6, "add_layernorm mean");
          check_close(y2.buf, k, 2e-5, "add_layernorm y");
        }
        // softmax cross-entropy: labels at the first, last and middle classes, one ignored row
        std::vector<int32_t> lab(static_cast<size_t>(rows));
        for (int64_t r = 0; r < rows; ++r) lab[size_t(r)] = int32_t(r % 3 == 0 ? 0 : r % 3 == 1 ? cols - 1 : cols / 2);
        lab[4] = -100;
        RowView logits = row_view(rnd(size_t(n), -5, 5, 157, dt), rows, cols, off, dt);
        RowView dl = row_view_empty(rows, cols, off, dt);
        Pair labels = pair_i32(lab), xl = pair_empty({rows}, DType::F32);
        cpu().softmax_xent(logits.v.c, labels.c, -100, 0.5f, xl.c, &dl.v.c);
        gpu().softmax_xent(logits.v.g, labels.g, -100, 0.5f, xl.g, &dl.v.g);
        check_close(xl, 64, 1e-6, "xent losses");
        check_close(dl.buf, dt == DType::F32 ? 64 : 2, 1e-7, "xent dlogits");
      }
}
