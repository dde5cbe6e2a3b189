// nn_seq_layers.cpp: the sequence-model layers (embedding, positional_embedding, lm_head with and
// without tie) against fp64 references and central finite differences of them; the embedding
// gradient's determinism (repeated ids, 1 vs 2 threads bit-equal); bad token ids as DataErrors
// naming the id, its position and the layer; tie errors at build time; fp16/bf16 outputs within
// their tolerance of fp32; sequence cross-entropy ([B, T, V] logits, [B, T] labels with
// ignore_index) against a hand-computed reference.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <random>

#include "nn/loss.h"
#include "nn/model.h"
#include "unit/nn_test_util.h"

using namespace mp;
using namespace mp::nn_test;

namespace {

// max |got - want| <= tol * max |want| (low-precision results against fp32: the error scales with
// the largest value, not with each element's own size, which may be a cancellation near 0).
void check_within(const Vec& got, const Vec& want, double tol, const std::string& what) {
  REQUIRE(got.size() == want.size());
  double mx = 0, err = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    mx = std::max(mx, std::abs(want[i]));
    err = std::max(err, std::abs(got[i] - want[i]));
  }
  CHECK_MESSAGE(err <= tol * mx, what << ": max error " << err << " > " << tol << " x max " << mx);
}

// A catalog layer located at a spec line (messages name it).
LayerSpec layer(const std::string& type, std::map<std::string, ParamValue> kv = {}) {
  return nn_test::spec(type, std::move(kv), "run.yaml:7:5");
}

// Token ids as fp32 with repeats (B * T of them, in [0, vocab)).
Vec random_ids(size_t n, int64_t vocab, std::mt19937_64& g) {
  std::uniform_int_distribution<int64_t> d(0, vocab - 1);
  Vec v(n);
  for (auto& x : v) x = static_cast<double>(d(g));
  return v;
}

using RefFn = std::function<Vec(const Vec& x, const std::vector<Vec>& params)>;

// Forward against `ref`, then every parameter gradient (and the input gradient when `x_grad`)
// against central differences of L = sum(r * ref) in fp64.
void check_model(Backend& be, Model& model, const Vec& x, const Shape& xs, const RefFn& ref,
                 bool x_grad) {
  std::mt19937_64 g(42);
  std::vector<Vec> params;
  for (Parameter* p : model.params()) {
    Vec v = random_vec(static_cast<size_t>(p->master.numel()), g, 0.05, 0.6);
    set_parameter_values(be, *p, from_host_floats(be, to_f(v), p->master.shape(), DType::F32));
    params.push_back(v);
  }
  Tensor xt = from_host_floats(be, to_f(x), xs, DType::F32);
  Context ctx{be, true, 3, 0};
  const Tensor& y = model.forward(ctx, xt);
  const Vec yd = to_d(to_host_floats(be, y));
  check_close(yd, ref(x, params), 1e-5, "forward");
  const Vec r = random_vec(yd.size(), g);
  const Tensor rt = from_host_floats(be, to_f(r), y.shape(), DType::F32);  // dx may be rt itself
  const Tensor& dx = model.backward(ctx, rt);
  auto L = [&](const Vec& xx, const std::vector<Vec>& pp) { return dot(r, ref(xx, pp)); };
  const double h = 1e-6;
  if (x_grad)
    check_close(to_d(to_host_floats(be, dx)),
                fd_gradient([&](const Vec& xx) { return L(xx, params); }, x, h), 1e-3, "dL/dx");
  for (size_t k = 0; k < params.size(); ++k) {
    auto pp = params;
    const Vec fd = fd_gradient([&](const Vec& pk) { pp[k] = pk; return L(x, pp); }, params[k], h);
    check_close(to_d(to_host_floats(be, model.params()[k]->grad)), fd, 1e-3,
                "dL/d" + model.params()[k]->name);
  }
}

// fp64 references.
Vec ref_embedding(const Vec& ids, const Vec& w, int64_t dim) {
  Vec y;
  for (double id : ids)
    for (int64_t d = 0; d < dim; ++d) y.push_back(w[static_cast<size_t>(static_cast<int64_t>(id) * dim + d)]);
  return y;
}
Vec ref_matmul_t(const Vec& x, const Vec& w, int64_t in, int64_t out) {  // x [rows, in] w [out, in]
  const size_t rows = x.size() / static_cast<size_t>(in);
  Vec y(rows * static_cast<size_t>(out));
  for (size_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double s = 0;
      for (int64_t i = 0; i < in; ++i) s += x[r * static_cast<size_t>(in) + static_cast<size_t>(i)] * w[static_cast<size_t>(o * in + i)];
      y[r * static_cast<size_t>(out) + static_cast<size_t>(o)] = s;
    }
  return y;
}

std::unique_ptr<Model> build(Backend& be, std::vector<LayerSpec> layers, Shape in, DType dt = DType::F32,
                             bool need_dx = false) {
  ModelOptions opt;
  opt.compute = dt;
  opt.seed = 7;
  opt.need_input_grad = need_dx;
  return Model::build(be, layers, in, opt);
}

}  // namespace

TEST_CASE("embedding: gather forward and scatter-add gradient (repeated ids) vs fp64 finite differences") {
  auto be = make_cpu_backend(1);
  for (auto [B, T, V, D] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{2, 5, 7, 3}, {1, 1, 1, 1}, {3, 9, 4, 17}}) {
    CAPTURE(V);
    CAPTURE(D);
    auto model = build(*be, {layer("embedding", {{"vocab", V}, {"dim", D}})}, {T});
    CHECK(model->output_shape() == Shape{T, D});
    std::mt19937_64 g(1);
    const Vec ids = random_ids(static_cast<size_t>(B * T), V, g);
    check_model(*be, *model, ids, {B, T}, [D = D](const Vec& x, const std::vector<Vec>& p) {
      return ref_embedding(x, p[0], D);
    }, false);
  }
}

TEST_CASE("positional_embedding: y = x + P[0:T], dP = sum over the batch, dx = dy") {
  auto be = make_cpu_backend(1);
  for (auto [B, T, D, max_len] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{3, 4, 5, 0}, {1, 1, 1, 0}, {2, 3, 7, 6}}) {
    CAPTURE(max_len);
    auto model = build(*be, {layer("positional_embedding", {{"max_len", max_len}})}, {T, D}, DType::F32, true);
    REQUIRE(model->params().size() == 1);
    CHECK(model->params()[0]->master.shape() == Shape{max_len ? max_len : T, D});
    std::mt19937_64 g(2);
    check_model(*be, *model, random_vec(static_cast<size_t>(B * T * D), g), {B, T, D},
                [T = T, D = D](const Vec& x, const std::vector<Vec>& p) {
                  Vec y(x.size());
                  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] + p[0][i % static_cast<size_t>(T * D)];
                  return y;
                }, true);
  }
  CHECK_THROWS_WITH_AS(build(*be, {layer("positional_embedding", {{"max_len", int64_t{3}}})}, {4, 2}),
                       doctest::Contains("run.yaml:7:5: positional_embedding: the input has 4 positions but max_len is 3"),
                       ConfigError);
}

TEST_CASE("lm_head untied: a linear map to vocab logits (normal init, no bias by default)") {
  auto be = make_cpu_backend(1);
  const int64_t B = 2, T = 3, D = 5, V = 6;
  auto model = build(*be, {layer("lm_head", {{"vocab", V}})}, {T, D}, DType::F32, true);
  REQUIRE(model->params().size() == 1);
  std::mt19937_64 g(3);
  check_model(*be, *model, random_vec(static_cast<size_t>(B * T * D), g), {B, T, D},
              [&](const Vec& x, const std::vector<Vec>& p) { return ref_matmul_t(x, p[0], D, V); }, true);
}

TEST_CASE("lm_head tied: one parameter whose gradient is the sum of both paths (untied fp64 reference)") {
  auto be = make_cpu_backend(1);
  const int64_t B = 2, T = 4, D = 6, V = 9;
  for (bool bias : {false, true}) {
    CAPTURE(bias);
    auto model = build(*be, {layer("embedding", {{"vocab", V}, {"dim", D}}), layer("layernorm"),
                             layer("lm_head", {{"vocab", V}, {"tie", true}, {"bias", bias}})},
                       {T});
    // listed once: embedding weight, layernorm gamma/beta, (lm_head bias)
    REQUIRE(model->params().size() == (bias ? 4u : 3u));
    CHECK(model->params()[0]->name == "layers.0.weight");
    CHECK(model->num_params() == V * D + 2 * D + (bias ? V : 0));
    std::mt19937_64 g(4);
    const Vec ids = random_ids(static_cast<size_t>(B * T), V, g);
    // The reference is untied: E appears in the lookup and in the head as one fp64 argument, so
    // its finite differences see both uses.
    check_model(*be, *model, ids, {B, T}, [&](const Vec& x, const std::vector<Vec>& p) {
      const Vec e = ref_embedding(x, p[0], D);
      Vec h(e.size());
      for (size_t r = 0; r < e.size() / static_cast<size_t>(D); ++r) {
        double m = 0, v = 0;
        for (int64_t c = 0; c < D; ++c) m += e[r * D + c];
        m /= D;
        for (int64_t c = 0; c < D; ++c) v += std::pow(e[r * D + c] - m, 2);
        v /= D;
        for (int64_t c = 0; c < D; ++c)
          h[r * D + c] = (e[r * D + c] - m) / std::sqrt(v + 1e-5) * p[1][c] + p[2][c];
      }
      Vec y = ref_matmul_t(h, p[0], D, V);
      if (bias)
        for (size_t i = 0; i < y.size(); ++i) y[i] += p[3][i % static_cast<size_t>(V)];
      return y;
    }, false);
  }
}

TEST_CASE("lm_head tie: errors at build time name the spec location") {
  auto be = make_cpu_backend(1);
  auto no_emb = [&] { build(*be, {layer("lm_head", {{"vocab", int64_t{5}}, {"tie", true}})}, {3, 4}); };
  CHECK_THROWS_WITH_AS(no_emb(), doctest::Contains("run.yaml:7:5: lm_head: tie: true needs an embedding layer before it"),
                       ConfigError);
  auto mismatch = [&] {
    build(*be, {layer("embedding", {{"vocab", int64_t{5}}, {"dim", int64_t{4}}}),
                layer("lm_head", {{"vocab", int64_t{6}}, {"tie", true}})}, {3});
  };
  CHECK_THROWS_WITH_AS(mismatch(), doctest::Contains("embedding layers.0 has [5, 4]"), ConfigError);
  auto named = [&] {
    build(*be, {layer("embedding", {{"vocab", int64_t{5}}, {"dim", int64_t{4}}}),
                layer("lm_head", {{"vocab", int64_t{5}}, {"tie", true}, {"tie_to", std::string("tok")}})}, {3});
  };
  CHECK_THROWS_WITH_AS(named(), doctest::Contains("needs the embedding named \"tok\""), ConfigError);
  auto not_tied = [&] {
    build(*be, {layer("embedding", {{"vocab", int64_t{5}}, {"dim", int64_t{4}}}),
                layer("lm_head", {{"vocab", int64_t{5}}, {"tie_to", std::string("layers.0")}})}, {3});
  };
  CHECK_THROWS_WITH_AS(not_tied(), doctest::Contains("tie_to is set but tie is false"), ConfigError);
  // tie_to picks the named table among several
  auto m = build(*be, {layer("embedding", {{"vocab", int64_t{5}}, {"dim", int64_t{4}}}),
                       layer("embedding", {{"vocab", int64_t{5}}, {"dim", int64_t{4}}, {"name", std::string("tok")}}),
                       layer("lm_head", {{"vocab", int64_t{5}}, {"tie", true}, {"tie_to", std::string("tok")}})},
                 {3});
  CHECK(m->params().size() == 2);
}

TEST_CASE("embedding gradient is deterministic: 1 and 2 threads give the same bits") {
  // vocab * dim >= the CPU engine's parallel threshold, so 2 threads really split the rows; few
  // distinct ids so rows collect many positions.
  const int64_t V = 300, D = 128, N = 4096;
  std::mt19937_64 g(5);
  std::uniform_int_distribution<int64_t> hot(0, 7), any(0, V - 1);
  std::vector<float> ids(N);
  for (auto& x : ids) x = static_cast<float>(g() % 4 ? hot(g) : any(g));
  const Vec dy = random_vec(static_cast<size_t>(N * D), g);
  const Vec w0 = random_vec(static_cast<size_t>(V * D), g);
  std::vector<std::vector<float>> results;
  for (int threads : {1, 2}) {
    auto be = make_cpu_backend(threads);
    Tensor idt = from_host_floats(*be, ids, {N}, DType::F32);
    Tensor dyt = from_host_floats(*be, to_f(dy), {N, D}, DType::F32);
    Tensor dw = from_host_floats(*be, to_f(w0), {V, D}, DType::F32);
    be->embedding_backward(idt, dyt, dw);
    results.push_back(to_host_floats(*be, dw));
  }
  CHECK(results[0] == results[1]);
  // and it is the scatter-add: w0 + per-row sums (fp64 reference, fp32 accumulation tolerance)
  Vec want(w0);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t d = 0; d < D; ++d) want[static_cast<size_t>(ids[i]) * D + d] += dy[i * D + d];
  check_close(to_d(results[0]), want, 1e-4, "dweight");
}

TEST_CASE("bad token ids are DataErrors naming the id, its position and the layer") {
  auto be = make_cpu_backend(1);
  auto model = build(*be, {layer("embedding", {{"vocab", int64_t{5}}, {"dim", int64_t{3}}})}, {4});
  Context ctx{*be, true, 0, 0};
  for (auto [bad, text] : {std::pair<float, const char*>{5.0f, "token id 5 at"}, {-1.0f, "token id -1 at"},
                           {2.5f, "token id 2.5 at"}, {NAN, "token id nan at"}}) {
    std::vector<float> ids = {0, 1, 2, 3, 4, 0, 1, 2};
    ids[6] = bad;
    Tensor x = from_host_floats(*be, ids, {2, 4}, DType::F32);
    try {
      model->forward(ctx, x);
      FAIL("no error for id " << bad);
    } catch (const DataError& e) {
      const std::string msg = e.what();
      CHECK_MESSAGE(msg.find(text) != std::string::npos, msg);
      CHECK_MESSAGE(msg.find("sample 1, position 2 of the batch is not an integer in [0, 5)") != std::string::npos, msg);
      CHECK_MESSAGE(msg.find("run.yaml:7:5: layer layers.0 (embedding, vocab 5)") != std::string::npos, msg);
      CHECK(e.exit_code() == kExitData);
    }
  }
}

TEST_CASE("sequence model in fp16 and bf16: logits within the dtype's tolerance of fp32") {
  auto be = make_cpu_backend(1);
  const int64_t B = 3, T = 8, V = 11, D = 16;
  std::mt19937_64 g(6);
  const std::vector<float> ids = to_f(random_ids(static_cast<size_t>(B * T), V, g));
  auto layers = std::vector<LayerSpec>{layer("embedding", {{"vocab", V}, {"dim", D}, {"init_std", 0.5}}),
                                       layer("positional_embedding", {{"init_std", 0.5}}), layer("layernorm"),
                                       layer("lm_head", {{"vocab", V}, {"tie", true}})};
  auto run = [&](DType dt, std::vector<float>* grad) {
    auto m = build(*be, layers, {T}, dt);
    Context ctx{*be, true, 0, 0};
    const Tensor& y = m->forward(ctx, from_host_floats(*be, ids, {B, T}, DType::F32));
    CHECK(y.dtype() == dt);
    const std::vector<float> out = to_host_floats(*be, y);
    m->backward(ctx, from_host_floats(*be, std::vector<float>(out.size(), 1.0f), y.shape(), DType::F32));
    *grad = to_host_floats(*be, m->params()[0]->grad);
    return to_d(out);
  };
  std::vector<float> g32, glow;
  const Vec ref = run(DType::F32, &g32);
  // 8 units in the last place of the dtype, relative to the largest value
  for (auto [dt, tol] : {std::pair<DType, double>{DType::F16, 8 * 0x1p-11}, {DType::BF16, 8 * 0x1p-8}}) {
    CAPTURE(dtype_name(dt));
    check_within(run(dt, &glow), ref, tol, "logits");
    check_within(to_d(glow), to_d(g32), tol, "dE");
  }
}

TEST_CASE("sequence cross-entropy: [B, T, V] logits, [B, T] labels, ignore_index, per-token counts") {
  auto be = make_cpu_backend(1);
  const int64_t B = 2, T = 3, V = 4;
  const std::vector<float> logits = {1, 2, 3, 4,  0, 0, 0, 0,  -1, 5, 2, 0,
                                     3, 1, 0, 2,  2, 2, 1, 0,  0.5f, -0.5f, 1.5f, 0};
  const std::vector<int32_t> labels = {3, -100, 1, 0, 2, -100};
  CrossEntropyLoss ce(-100);
  Tensor lt = from_host_floats(*be, logits, {B, T, V}, DType::F32);
  Tensor yt = be->empty({B, T}, DType::I32);
  be->upload(labels.data(), yt);
  const double sum = ce.compute(*be, lt, yt, 0.5f, true);
  // hand-computed: -log softmax(row)[label] for the four counted tokens
  auto nll = [&](int64_t row, int32_t lab) {
    double m = -1e30, s = 0;
    for (int64_t c = 0; c < V; ++c) m = std::max(m, double(logits[row * V + c]));
    for (int64_t c = 0; c < V; ++c) s += std::exp(logits[row * V + c] - m);
    return -(logits[row * V + lab] - m - std::log(s));
  };
  const double want = nll(0, 3) + nll(2, 1) + nll(3, 0) + nll(4, 2);
  CHECK(sum == doctest::Approx(want).epsilon(1e-6));
  CHECK(ce.counted_rows(labels, B) == 4);  // tokens, not samples
  const std::vector<float> grad = to_host_floats(*be, ce.grad());
  REQUIRE(ce.grad().shape() == Shape{B, T, V});
  for (int64_t c = 0; c < V; ++c) {
    CHECK(grad[1 * V + c] == 0.0f);  // ignored tokens get no gradient
    CHECK(grad[5 * V + c] == 0.0f);
  }
  double s = 0;
  for (int64_t c = 0; c < V; ++c) s += std::exp(logits[c]);
  CHECK(grad[3] == doctest::Approx(0.5 * (std::exp(4.0) / s - 1)).epsilon(1e-5));
}
