// nn_attention.cpp: causal_self_attention and transformer_block against fp64 reference loops
// written here (naive per-head attention, layernorm, GELU), their input and parameter gradients
// against central finite differences of those references, causality (masked keys get exactly
// zero weight), fp16/bf16 against fp32 within the dtypes' tolerance, and the fp16 case the 1/sqrt(d)
// scale inside the score GEMM exists for.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <random>

#include "nn/attention.h"
#include "nn/model.h"
#include "unit/nn_test_util.h"

using namespace mp;
using namespace mp::nn_test;
using Params = std::vector<Vec>;
using RefFn = std::function<Vec(const Vec& x, const Params& p)>;

namespace {

size_t z(int64_t i) { return static_cast<size_t>(i); }

// ---- fp64 references --------------------------------------------------------------------------
// y[r, o] = b[o] + sum_i x[r, i] w[o, i]
Vec ref_linear(const Vec& x, const Vec& w, const Vec& b, int64_t in, int64_t out) {
  const int64_t rows = static_cast<int64_t>(x.size()) / in;
  Vec y(z(rows * out));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double s = b[z(o)];
      for (int64_t i = 0; i < in; ++i) s += x[z(r * in + i)] * w[z(o * in + i)];
      y[z(r * out + o)] = s;
    }
  return y;
}

Vec ref_layernorm(const Vec& x, const Vec& g, const Vec& b, int64_t C, double eps) {
  Vec y(x.size());
  for (size_t r = 0; r < x.size() / z(C); ++r) {
    double m = 0, v = 0;
    for (int64_t c = 0; c < C; ++c) m += x[r * z(C) + z(c)];
    m /= static_cast<double>(C);
    for (int64_t c = 0; c < C; ++c) v += std::pow(x[r * z(C) + z(c)] - m, 2);
    v /= static_cast<double>(C);
    for (int64_t c = 0; c < C; ++c)
      y[r * z(C) + z(c)] = (x[r * z(C) + z(c)] - m) / std::sqrt(v + eps) * g[z(c)] + b[z(c)];
  }
  return y;
}

// Naive causal attention, p = {Wqkv, bqkv, Wproj, bproj} from offset k of the parameter list.
Vec ref_attention(const Vec& x, const Params& p, size_t k, int64_t B, int64_t T, int64_t C,
                  int64_t H) {
  const int64_t d = C / H;
  const Vec qkv = ref_linear(x, p[k], p[k + 1], C, 3 * C);
  Vec merged(z(B * T * C));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      auto at = [&](int64_t t, int64_t part, int64_t e) {
        return qkv[z((b * T + t) * 3 * C + part * C + h * d + e)];
      };
      for (int64_t t = 0; t < T; ++t) {
        Vec s(z(t + 1));
        double m = -1e300;
        for (int64_t u = 0; u <= t; ++u) {
          double dot = 0;
          for (int64_t e = 0; e < d; ++e) dot += at(t, 0, e) * at(u, 1, e);
          s[z(u)] = dot / std::sqrt(static_cast<double>(d));
          m = std::max(m, s[z(u)]);
        }
        double sum = 0;
        for (auto& v : s) sum += (v = std::exp(v - m));
        for (int64_t e = 0; e < d; ++e) {
          double o = 0;
          for (int64_t u = 0; u <= t; ++u) o += s[z(u)] / sum * at(u, 2, e);
          merged[z((b * T + t) * C + h * d + e)] = o;
        }
      }
    }
  return ref_linear(merged, p[k + 2], p[k + 3], C, C);
}

double gelu_tanh(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}

// Pre-norm block: p = ln1 (g, b), attention (4), ln2 (g, b), fc (w, b), proj (w, b).
Vec ref_block(const Vec& x, const Params& p, int64_t B, int64_t T, int64_t C, int64_t H,
              int64_t ratio) {
  const Vec a = ref_attention(ref_layernorm(x, p[0], p[1], C, 1e-5), p, 2, B, T, C, H);
  Vec x1(x.size());
  for (size_t i = 0; i < x.size(); ++i) x1[i] = x[i] + a[i];
  Vec hdn = ref_linear(ref_layernorm(x1, p[6], p[7], C, 1e-5), p[8], p[9], C, ratio * C);
  for (auto& v : hdn) v = gelu_tanh(v);
  const Vec m = ref_linear(hdn, p[10], p[11], ratio * C, C);
  for (size_t i = 0; i < x.size(); ++i) x1[i] += m[i];
  return x1;
}

struct Built {
  std::unique_ptr<Backend> be = make_cpu_backend(1);
  std::unique_ptr<Model> model;
  Params params;
};

// A model over per-sample [T, C] with random parameters (gammas, biases included).
Built build(const std::vector<LayerSpec>& layers, int64_t T, int64_t C, DType compute,
            uint64_t seed = 42, double lo = 0.05, double hi = 0.6) {
  Built b;
  ModelOptions opt;
  opt.compute = compute;
  opt.need_input_grad = true;
  b.model = Model::build(*b.be, layers, {T, C}, opt);
  std::mt19937_64 g(seed);
  for (Parameter* p : b.model->params()) {
    Vec v = random_vec(z(p->master.numel()), g, lo, hi);
    set_parameter_values(*b.be, *p, from_host_floats(*b.be, to_f(v), p->master.shape(), DType::F32));
    b.params.push_back(v);
  }
  return b;
}

// Forward against the reference, then dL/dx and dL/dparams for L = sum(r * y) against central
// differences of the fp64 reference.
void gradcheck(const std::vector<LayerSpec>& layers, int64_t B, int64_t T, int64_t C,
               const RefFn& ref) {
  Built m = build(layers, T, C, DType::F32);
  Backend& be = *m.be;
  std::mt19937_64 g(7);
  const Vec x = random_vec(z(B * T * C), g, 0.1, 1.0);
  Tensor xt = from_host_floats(be, to_f(x), {B, T, C}, DType::F32);
  Context ctx{be, true, 3, 0};
  const Tensor& y = m.model->forward(ctx, xt);
  REQUIRE(y.shape() == Shape{B, T, C});
  check_close(to_d(to_host_floats(be, y)), ref(x, m.params), 1e-5, "forward");
  const Vec r = random_vec(z(B * T * C), g, 0.1, 1.0);
  const Vec dx = to_d(to_host_floats(be, m.model->backward(ctx, from_host_floats(be, to_f(r), {B, T, C}, DType::F32))));
  auto L = [&](const Vec& xx, const Params& pp) { return dot(r, ref(xx, pp)); };
  const double h = 1e-6;
  check_close(dx, fd_gradient([&](const Vec& xx) { return L(xx, m.params); }, x, h), 1e-3,
              "dL/dx");
  for (size_t k = 0; k < m.params.size(); ++k) {
    const Vec fdp = fd_gradient(
        [&](const Vec& pk) {
          Params pp = m.params;
          pp[k] = pk;
          return L(x, pp);
        },
        m.params[k], h);
    check_close(to_d(to_host_floats(be, m.model->params()[k]->grad)), fdp, 1e-3,
                "dL/d" + m.model->params()[k]->name);
  }
}

}  // namespace

TEST_CASE("causal_self_attention: forward and gradients vs an fp64 reference and FD") {
  for (auto [B, T, C, H] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{2, 5, 8, 2},
                            {1, 1, 4, 1}, {3, 7, 12, 3}}) {
    CAPTURE(B);
    CAPTURE(T);
    CAPTURE(C);
    CAPTURE(H);
    gradcheck({spec("causal_self_attention", {{"heads", H}})}, B, T, C,
              [=](const Vec& x, const Params& p) { return ref_attention(x, p, 0, B, T, C, H); });
  }
}

TEST_CASE("causal_self_attention: parameter names and a clear error for heads not dividing C") {
  Built m = build({spec("causal_self_attention", {{"heads", int64_t{2}}, {"name", std::string("blk.attn")}})},
                  3, 8, DType::F32);
  std::vector<std::string> names;
  for (Parameter* p : m.model->params()) names.push_back(p->name);
  CHECK(names == std::vector<std::string>{"blk.attn.qkv.weight", "blk.attn.qkv.bias",
                                          "blk.attn.proj.weight", "blk.attn.proj.bias"});
  CHECK(m.model->params()[0]->master.shape() == Shape{24, 8});
  auto be = make_cpu_backend(1);
  try {
    Model::build(*be, {spec("causal_self_attention", {{"heads", int64_t{3}}}, "test.yaml:1:1")},
                 {4, 8}, {});
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    CHECK(msg.find("test.yaml:1:1") != std::string::npos);
    CHECK(msg.find("heads 3 must divide the input width 8") != std::string::npos);
  }
  CHECK_THROWS_AS(Model::build(*be, {spec("causal_self_attention", {{"heads", int64_t{1}}})}, {8}, {}),
                  ConfigError);
}

TEST_CASE("causal_self_attention: causal -- changing later tokens leaves earlier outputs bit-identical") {
  const int64_t B = 2, T = 6, C = 8;
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    Built m = build({spec("causal_self_attention", {{"heads", int64_t{2}}})}, T, C, dt);
    std::mt19937_64 g(1);
    Vec x = random_vec(z(B * T * C), g, 0.1, 1.0);
    Context ctx{*m.be, false};
    const auto y0 = to_host_floats(*m.be, m.model->forward(ctx, from_host_floats(*m.be, to_f(x), {B, T, C}, DType::F32)));
    const int64_t t0 = 3;  // perturb tokens t0.. of every sequence, hugely
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = t0 * C; i < T * C; ++i) x[z(b * T * C + i)] *= -50.0;
    const auto y1 = to_host_floats(*m.be, m.model->forward(ctx, from_host_floats(*m.be, to_f(x), {B, T, C}, DType::F32)));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < T * C; ++i) {
        const size_t k = z(b * T * C + i);
        if (i < t0 * C) REQUIRE(y1[k] == y0[k]);
      }
    CHECK(y1[z(t0 * C)] != y0[z(t0 * C)]);
  }
}

TEST_CASE("causal_self_attention: fp16 and bf16 forward and gradients within tolerance of fp32") {
  const int64_t B = 2, T = 9, C = 16;
  const auto layers = std::vector<LayerSpec>{spec("causal_self_attention", {{"heads", int64_t{4}}})};
  std::mt19937_64 g(5);
  const Vec x = random_vec(z(B * T * C), g, 0.1, 1.0), r = random_vec(z(B * T * C), g, 0.1, 1.0);
  auto run = [&](DType dt, Vec& y, Vec& dx, Vec& dw) {
    Built m = build(layers, T, C, dt);
    Context ctx{*m.be, true, 3, 0};
    const Tensor& yt = m.model->forward(ctx, from_host_floats(*m.be, to_f(x), {B, T, C}, DType::F32));
    CHECK(yt.dtype() == dt);  // stored in the compute dtype
    y = to_d(to_host_floats(*m.be, yt));
    const Tensor& dxt = m.model->backward(ctx, from_host_floats(*m.be, to_f(r), {B, T, C}, DType::F32));
    CHECK(dxt.dtype() == dt);
    dx = to_d(to_host_floats(*m.be, dxt));
    dw = to_d(to_host_floats(*m.be, m.model->params()[0]->grad));
  };
  Vec y32, dx32, dw32;
  run(DType::F32, y32, dx32, dw32);
  for (DType dt : {DType::F16, DType::BF16}) {
    CAPTURE(dtype_name(dt));
    Vec y, dx, dw;
    run(dt, y, dx, dw);
    // A chain of ~6 roundings to D (qkv, scores, probabilities, P V, projection; the gradients a
    // few more), each within u relative: 16 u of the output's scale bounds it.
    const double u = dt == DType::F16 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
    auto near = [&](const Vec& got, const Vec& want, const char* what) {
      double mx = 0;
      for (double w : want) mx = std::max(mx, std::abs(w));
      double worst = 0;
      for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]) / mx);
      CAPTURE(what);
      CHECK(worst <= 16 * u);
      CHECK(worst > 0);  // really computed in the low precision
    };
    near(y, y32, "y");
    near(dx, dx32, "dx");
    near(dw, dw32, "dWqkv");
  }
}

TEST_CASE("causal_self_attention: fp16 scores that overflow unscaled stay finite (alpha in the GEMM)") {
  // One head of d = 64, qkv = identity on Q and K (V too), inputs of magnitude 40: q.k = 64 * 1600
  // = 102400 exceeds fp16's 65504, the scaled score 12800 does not.
  const int64_t B = 1, T = 4, C = 64;
  Built m = build({spec("causal_self_attention", {{"heads", int64_t{1}}, {"bias", false}})}, T, C,
                  DType::F16);
  Backend& be = *m.be;
  Vec wqkv(z(3 * C * C), 0.0), wproj(z(C * C), 0.0);
  for (int64_t part = 0; part < 3; ++part)
    for (int64_t i = 0; i < C; ++i) wqkv[z((part * C + i) * C + i)] = 1.0;
  for (int64_t i = 0; i < C; ++i) wproj[z(i * C + i)] = 1.0;
  set_parameter_values(be, *m.model->params()[0], from_host_floats(be, to_f(wqkv), {3 * C, C}, DType::F32));
  set_parameter_values(be, *m.model->params()[1], from_host_floats(be, to_f(wproj), {C, C}, DType::F32));
  Vec x(z(B * T * C));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < C; ++i) x[z(t * C + i)] = (t % 2 ? -40.0 : 40.0) + (i % 3);
  Tensor xt = from_host_floats(be, to_f(x), {B, T, C}, DType::F32);
  // The premise: the unscaled product Q K^T does overflow fp16.
  Tensor q = from_host_floats(be, to_f(x), {1, T, C}, DType::F16);
  Tensor s = be.empty({1, T, T}, DType::F16);
  be.gemm_batched(false, true, 1.0f, q, q, 0.0f, s);
  CHECK(std::isinf(to_host_floats(be, s)[0]));
  Context ctx{be, true, 3, 0};
  const Vec y = to_d(to_host_floats(be, m.model->forward(ctx, xt)));
  const Vec want = ref_attention(x, {wqkv, Vec(z(3 * C), 0.0), wproj, Vec(z(C), 0.0)}, 0, B, T, C, 1);
  for (size_t i = 0; i < y.size(); ++i) {
    REQUIRE(std::isfinite(y[i]));
    REQUIRE(std::abs(y[i] - want[i]) <= 0.05 * (std::abs(want[i]) + 1.0));
  }
  const Vec dx = to_d(to_host_floats(be, m.model->backward(ctx, from_host_floats(be, std::vector<float>(z(B * T * C), 1.0f), {B, T, C}, DType::F32))));
  for (double v : dx) REQUIRE(std::isfinite(v));
}

TEST_CASE("causal_self_attention: dropout on the probabilities (training only, same mask in backward)") {
  const int64_t B = 2, T = 8, C = 8;
  auto layers = std::vector<LayerSpec>{spec("causal_self_attention", {{"heads", int64_t{2}}, {"dropout", 0.5}})};
  Built m = build(layers, T, C, DType::F32);
  Built plain = build({spec("causal_self_attention", {{"heads", int64_t{2}}})}, T, C, DType::F32);
  std::mt19937_64 g(3);
  const Vec x = random_vec(z(B * T * C), g, 0.1, 1.0);
  Tensor xt = from_host_floats(*m.be, to_f(x), {B, T, C}, DType::F32);
  Tensor xp = from_host_floats(*plain.be, to_f(x), {B, T, C}, DType::F32);
  Context eval{*m.be, false, 3, 0}, eval_p{*plain.be, false, 3, 0};
  // Eval: identity dropout, the plain layer's output exactly.
  CHECK(to_host_floats(*m.be, m.model->forward(eval, xt)) == to_host_floats(*plain.be, plain.model->forward(eval_p, xp)));
  Context train{*m.be, true, 3, 0};
  const auto ya = to_host_floats(*m.be, m.model->forward(train, xt));
  CHECK(ya != to_host_floats(*m.be, m.model->forward(eval, xt)));
  CHECK(to_host_floats(*m.be, m.model->forward(train, xt)) == ya);  // the mask is (seed, offset)'s
  // Gradient vs FD of the layer itself (fp32; the mask is fixed by the seed): dL/dx for L = sum y.
  Tensor ones = from_host_floats(*m.be, std::vector<float>(z(B * T * C), 1.0f), {B, T, C}, DType::F32);
  const auto dx = to_host_floats(*m.be, m.model->backward(train, ones));
  auto L = [&](const Vec& xx) {
    Tensor t = from_host_floats(*m.be, to_f(xx), {B, T, C}, DType::F32);
    double s = 0;
    for (float v : to_host_floats(*m.be, m.model->forward(train, t))) s += v;
    return s;
  };
  for (size_t i : {size_t{0}, size_t{17}, size_t{100}}) {
    Vec a = x, b = x;
    a[i] += 1e-2;
    b[i] -= 1e-2;
    CHECK(dx[i] == doctest::Approx((L(a) - L(b)) / 2e-2).epsilon(2e-2));
  }
}

TEST_CASE("transformer_block: forward and gradients vs an fp64 reference and FD; parameter names") {
  const int64_t B = 2, T = 5, C = 8, H = 2;
  auto s = spec("transformer_block", {{"heads", H}, {"name", std::string("blocks.0")}});
  gradcheck({s}, B, T, C, [=](const Vec& x, const Params& p) { return ref_block(x, p, B, T, C, H, 4); });
  Built m = build({s}, T, C, DType::F32);
  std::vector<std::string> names;
  for (Parameter* p : m.model->params()) names.push_back(p->name);
  CHECK(names == std::vector<std::string>{
                     "blocks.0.ln1.weight", "blocks.0.ln1.bias", "blocks.0.attn.qkv.weight",
                     "blocks.0.attn.qkv.bias", "blocks.0.attn.proj.weight", "blocks.0.attn.proj.bias",
                     "blocks.0.ln2.weight", "blocks.0.ln2.bias", "blocks.0.mlp.fc.weight",
                     "blocks.0.mlp.fc.bias", "blocks.0.mlp.proj.weight", "blocks.0.mlp.proj.bias"});
  CHECK(m.model->find_param("blocks.0.mlp.fc.weight")->master.shape() == Shape{32, 8});
  const auto rows = m.model->summary();
  REQUIRE(!rows.empty());
  CHECK(rows[0].type == "transformer_block");
  CHECK(rows[0].params == m.model->num_params());
}

TEST_CASE("transformer_block: precision fp32 and fp32_layers reach its parts") {
  auto s = spec("transformer_block", {{"heads", int64_t{2}}, {"precision", std::string("fp32")}});
  auto be = make_cpu_backend(1);
  ModelOptions opt;
  opt.compute = DType::BF16;
  auto m = Model::build(*be, {s}, {4, 8}, opt);
  for (const LayerRow& r : m->summary()) CHECK_MESSAGE(r.dtype == DType::F32, r.name);
  opt.fp32_layers = {"layers.0.attn"};
  auto m2 = Model::build(*be, {spec("transformer_block", {{"heads", int64_t{2}}})}, {4, 8}, opt);
  for (const LayerRow& r : m2->summary())
    CHECK_MESSAGE((r.dtype == DType::F32) == (r.name == "layers.0.attn"), r.name);
}

TEST_CASE("causal_self_attention: the memory estimate counts the T x T scores") {
  Built m = build({spec("causal_self_attention", {{"heads", int64_t{4}}})}, 128, 64, DType::F32);
  const auto rows = m.model->summary();
  REQUIRE(rows.size() == 1);
  // 18 T C + 3 H T T buffers per sample, counted as half (values + gradients doubled later).
  CHECK(rows[0].activation_elems == (18 * 128 * 64 + 3 * 4 * 128 * 128) / 2);
}

// ---- the fused path (attention: fused; the CPU engine's reference of the CUDA flash kernels) ----

TEST_CASE("causal_self_attention, attention: fused: forward and gradients vs an fp64 reference and FD") {
  for (auto [B, T, C, H] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{2, 5, 8, 2},
                            {1, 1, 4, 1}, {3, 7, 12, 3}}) {
    CAPTURE(T);
    CAPTURE(C);
    gradcheck({spec("causal_self_attention", {{"heads", H}, {"attention", std::string("fused")}})},
              B, T, C,
              [=](const Vec& x, const Params& p) { return ref_attention(x, p, 0, B, T, C, H); });
  }
  const int64_t B = 2, T = 5, C = 8, H = 2;
  gradcheck({spec("transformer_block", {{"heads", H}, {"attention", std::string("fused")}})}, B, T,
            C, [=](const Vec& x, const Params& p) { return ref_block(x, p, B, T, C, H, 4); });
}

TEST_CASE("causal_self_attention: fused and unfused agree (fp32 within fp32 rounding, fp16/bf16 within the dtype)") {
  const int64_t B = 2, T = 33, C = 32, H = 2;
  std::mt19937_64 g(9);
  const Vec x = random_vec(z(B * T * C), g, -1.0, 1.0), r = random_vec(z(B * T * C), g, -1.0, 1.0);
  auto run = [&](DType dt, const std::string& path, Vec& y, Vec& dx, Vec& dw) {
    Built m = build({spec("causal_self_attention", {{"heads", H}, {"attention", path}})}, T, C, dt,
                    42, -0.3, 0.3);
    Context ctx{*m.be, true, 3, 0};
    y = to_d(to_host_floats(*m.be, m.model->forward(ctx, from_host_floats(*m.be, to_f(x), {B, T, C}, DType::F32))));
    dx = to_d(to_host_floats(*m.be, m.model->backward(ctx, from_host_floats(*m.be, to_f(r), {B, T, C}, DType::F32))));
    dw = to_d(to_host_floats(*m.be, m.model->params()[0]->grad));
  };
  auto worst = [](const Vec& got, const Vec& want) {
    double mx = 0, e = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      mx = std::max(mx, std::abs(want[i]));
      e = std::max(e, std::abs(got[i] - want[i]));
    }
    return e / mx;
  };
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    CAPTURE(dtype_name(dt));
    Vec yf, dxf, dwf, yu, dxu, dwu, ya, dxa, dwa;
    run(dt, "fused", yf, dxf, dwf);
    run(dt, "unfused", yu, dxu, dwu);
    // The unfused path rounds S, P, dP and dS to the dtype as well: a few units of its roundoff
    // (fp32: summation order only).
    const double u = dt == DType::F16 ? std::ldexp(1.0, -11)
                     : dt == DType::BF16 ? std::ldexp(1.0, -8) : std::ldexp(1.0, -24);
    const double tol = dt == DType::F32 ? 256 * u : 16 * u;
    CHECK(worst(yf, yu) <= tol);
    CHECK(worst(dxf, dxu) <= tol);
    CHECK(worst(dwf, dwu) <= tol);
    CHECK(worst(yf, yu) > 0);  // really another computation
    // auto on the CPU engine: the unfused path, bit for bit.
    run(dt, "auto", ya, dxa, dwa);
    CHECK(ya == yu);
    CHECK(dxa == dxu);
  }
}

TEST_CASE("causal_self_attention: which path a step takes (dropout refused by the fused ops)") {
  auto be = make_cpu_backend(1);
  auto layer = [](double drop, AttentionPath path) {
    auto l = std::make_unique<CausalSelfAttention>(2, drop, true, 1, path);
    l->configure("attn", "causal_self_attention", DType::F32, "");
    l->infer({4, 8});
    return l;
  };
  CHECK(layer(0.0, AttentionPath::Fused)->uses_fused(*be, true));
  CHECK(!layer(0.0, AttentionPath::Auto)->uses_fused(*be, true));  // CPU: unfused by default
  CHECK(!layer(0.0, AttentionPath::Unfused)->uses_fused(*be, false));
  CHECK(!layer(0.1, AttentionPath::Fused)->uses_fused(*be, true));  // training with dropout
  CHECK(layer(0.1, AttentionPath::Fused)->uses_fused(*be, false));  // eval: no dropout
  CHECK_THROWS_AS(parse_attention_path("flash"), InternalError);
  // A training step with dropout under `fused` is the unfused layer's step, bit for bit (the same
  // Philox stream), forward and backward.
  const int64_t B = 2, T = 8, C = 8;
  auto run = [&](const std::string& path, std::vector<float>& y, std::vector<float>& dx) {
    Built m = build({spec("causal_self_attention", {{"heads", int64_t{2}}, {"dropout", 0.3}, {"attention", path}})}, T, C, DType::F32);
    std::mt19937_64 g(3);
    const Vec x = random_vec(z(B * T * C), g, 0.1, 1.0);
    Context train{*m.be, true, 3, 5};
    y = to_host_floats(*m.be, m.model->forward(train, from_host_floats(*m.be, to_f(x), {B, T, C}, DType::F32)));
    dx = to_host_floats(*m.be, m.model->backward(train, from_host_floats(*m.be, std::vector<float>(z(B * T * C), 1.0f), {B, T, C}, DType::F32)));
  };
  std::vector<float> yf, dxf, yu, dxu;
  run("fused", yf, dxf);
  run("unfused", yu, dxu);
  CHECK(yf == yu);
  CHECK(dxf == dxu);
}
