// nn_gradcheck.cpp: every layer's forward against an independent fp64 reference, and its input
// and parameter gradients against central finite differences of that fp64 reference
// (relative error <= 1e-3), on awkward sizes (1, odd, non-multiples of the vector width).
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <random>

#include "nn/loss.h"
#include "nn/model.h"
#include "unit/nn_test_util.h"

using namespace mp;
using namespace mp::nn_test;
using RefFn = std::function<Vec(const Vec& x, const std::vector<Vec>& params)>;

namespace {

// ---- fp64 references ------------------------------------------------------------------------
Vec ref_linear(const Vec& x, const Vec& w, const Vec* b, int64_t in, int64_t out) {
  const int64_t rows = static_cast<int64_t>(x.size()) / in;
  Vec y(static_cast<size_t>(rows * out));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double s = b ? (*b)[static_cast<size_t>(o)] : 0.0;
      for (int64_t i = 0; i < in; ++i) s += x[static_cast<size_t>(r * in + i)] * w[static_cast<size_t>(o * in + i)];
      y[static_cast<size_t>(r * out + o)] = s;
    }
  return y;
}

double act_ref(const std::string& a, double x) {
  if (a == "relu") return x > 0 ? x : 0;
  if (a == "tanh") return std::tanh(x);
  if (a == "sigmoid") return 1 / (1 + std::exp(-x));
  if (a == "silu") return x / (1 + std::exp(-x));
  if (a == "gelu_exact") return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
  if (a == "gelu_tanh")
    return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  throw std::runtime_error("no ref for " + a);
}

Vec ref_layernorm(const Vec& x, const Vec& g, const Vec& b, int64_t cols, double eps) {
  Vec y(x.size());
  const int64_t rows = static_cast<int64_t>(x.size()) / cols;
  for (int64_t r = 0; r < rows; ++r) {
    double m = 0, v = 0;
    for (int64_t c = 0; c < cols; ++c) m += x[static_cast<size_t>(r * cols + c)];
    m /= static_cast<double>(cols);
    for (int64_t c = 0; c < cols; ++c) v += std::pow(x[static_cast<size_t>(r * cols + c)] - m, 2);
    v /= static_cast<double>(cols);
    for (int64_t c = 0; c < cols; ++c) {
      const size_t i = static_cast<size_t>(r * cols + c);
      y[i] = (x[i] - m) / std::sqrt(v + eps) * g[static_cast<size_t>(c)] + b[static_cast<size_t>(c)];
    }
  }
  return y;
}

struct Case {
  std::string label;
  std::vector<LayerSpec> layers;
  int64_t batch, in;
  RefFn ref;
  Shape sample = {};  // the model's per-sample input shape when not {in} (in = its numel)
};

// Runs forward/backward of the model and checks against the fp64 reference and its FD gradients.
void run_case(const Case& c) {
  CAPTURE(c.label);
  auto be = make_cpu_backend(1);
  ModelOptions opt;
  opt.seed = 7;
  opt.need_input_grad = true;
  auto model = Model::build(*be, c.layers, c.sample.empty() ? Shape{c.in} : c.sample, opt);
  // Non-trivial parameters (layernorm starts at gamma=1, beta=0; biases at 0): randomise them.
  std::mt19937_64 g(42);
  std::vector<Vec> params;
  for (Parameter* p : model->params()) {
    Vec v = random_vec(static_cast<size_t>(p->master.numel()), g, 0.05, 0.6);
    Tensor t = from_host_floats(*be, to_f(v), p->master.shape(), DType::F32);
    set_parameter_values(*be, *p, t);
    params.push_back(v);
  }
  const Vec x = random_vec(static_cast<size_t>(c.batch * c.in), g);
  Tensor xt = from_host_floats(*be, to_f(x), {c.batch, c.in}, DType::F32);
  Context ctx{*be, true, 3, 0};
  const Tensor& y = model->forward(ctx, xt);
  const Vec yd = to_d(to_host_floats(*be, y));
  const Vec yref = c.ref(x, params);
  check_close(yd, yref, 1e-5, "forward");

  const Vec r = random_vec(yd.size(), g);
  Tensor rt = from_host_floats(*be, to_f(r), y.shape(), DType::F32);
  const Vec dx = to_d(to_host_floats(*be, model->backward(ctx, rt)));

  // L(x, params) = sum(r * f(x, params)); central differences in fp64.
  auto L = [&](const Vec& xx, const std::vector<Vec>& pp) { return dot(r, c.ref(xx, pp)); };
  const double h = 1e-6;
  check_close(dx, fd_gradient([&](const Vec& xx) { return L(xx, params); }, x, h), 1e-3, "dL/dx");
  for (size_t k = 0; k < params.size(); ++k) {
    auto pp = params;
    const Vec fd = fd_gradient([&](const Vec& pk) { pp[k] = pk; return L(x, pp); }, params[k], h);
    check_close(to_d(to_host_floats(*be, model->params()[k]->grad)), fd, 1e-3,
                "dL/d" + model->params()[k]->name);
  }
  // A second micro-batch accumulates (beta = 1): identical inputs give exactly twice the grads.
  std::vector<std::vector<float>> once;
  for (Parameter* p : model->params()) once.push_back(to_host_floats(*be, p->grad));
  model->forward(ctx, xt);
  model->backward(ctx, rt);
  for (size_t k = 0; k < once.size(); ++k) {
    const auto twice = to_host_floats(*be, model->params()[k]->grad);
    for (size_t i = 0; i < twice.size(); ++i) REQUIRE(twice[i] == 2.0f * once[k][i]);
  }
}

}  // namespace

TEST_CASE("linear: forward and gradients vs fp64 finite differences") {
  for (auto [b, in, out] : {std::tuple<int64_t, int64_t, int64_t>{3, 7, 5}, {1, 1, 1}, {5, 17, 33}, {2, 16, 1}}) {
    for (bool bias : {true, false}) {
      Case c{"linear " + std::to_string(in) + "->" + std::to_string(out) + (bias ? " bias" : ""),
             {spec("linear", {{"out", out}, {"bias", bias}})}, b, in,
             [=](const Vec& x, const std::vector<Vec>& p) {
               return ref_linear(x, p[0], bias ? &p[1] : nullptr, in, out);
             }};
      run_case(c);
    }
  }
}

TEST_CASE("activations: forward and input gradients vs fp64 finite differences") {
  const std::vector<std::pair<std::string, LayerSpec>> acts = {
      {"relu", spec("relu")},         {"tanh", spec("tanh")},
      {"sigmoid", spec("sigmoid")},   {"silu", spec("silu")},
      {"gelu_tanh", spec("gelu")},    {"gelu_exact", spec("gelu", {{"approximate", std::string("none")}})}};
  for (const auto& [name, s] : acts)
    for (int64_t n : {1, 13, 67}) {
      std::string nm = name;
      run_case({nm + " n=" + std::to_string(n), {s}, 3, n, [nm](const Vec& x, const std::vector<Vec>&) {
                  Vec y(x.size());
                  for (size_t i = 0; i < x.size(); ++i) y[i] = act_ref(nm, x[i]);
                  return y;
                }});
    }
}

TEST_CASE("layernorm: forward and gradients (x, gamma, beta) vs fp64 finite differences") {
  for (int64_t n : {2, 7, 64, 129}) {
    run_case({"layernorm n=" + std::to_string(n), {spec("layernorm")}, 3, n,
              [n](const Vec& x, const std::vector<Vec>& p) { return ref_layernorm(x, p[0], p[1], n, 1e-5); }});
  }
}

TEST_CASE("residual and sequential containers: x + f(x) through nested layers") {
  LayerSpec res = default_layer_spec("residual");
  res.where = "test";
  res.children = {spec("linear", {{"out", int64_t{9}}}), spec("tanh")};
  LayerSpec seq = default_layer_spec("sequential");
  seq.where = "test";
  seq.children = {spec("linear", {{"out", int64_t{4}}}), spec("silu")};
  run_case({"residual(linear,tanh) -> sequential(linear,silu)", {res, seq}, 4, 9,
            [](const Vec& x, const std::vector<Vec>& p) {
              Vec f = ref_linear(x, p[0], &p[1], 9, 9);
              Vec h(x.size());
              for (size_t i = 0; i < x.size(); ++i) h[i] = x[i] + std::tanh(f[i]);
              Vec z = ref_linear(h, p[2], &p[3], 9, 4);
              for (auto& v : z) v = act_ref("silu", v);
              return z;
            }});
}

TEST_CASE("flatten then linear on a [3, 5] per-sample input") {
  auto be = make_cpu_backend(1);
  ModelOptions opt;
  auto m = Model::build(*be, {spec("flatten"), spec("linear", {{"out", int64_t{2}}})}, {3, 5}, opt);
  CHECK(m->output_shape() == Shape{2});
  CHECK(m->params()[0]->master.shape() == Shape{2, 15});
}

TEST_CASE("dropout: kept elements scaled by 1/(1-p), gradient uses the same mask, eval is identity") {
  auto be = make_cpu_backend(1);
  ModelOptions opt;
  opt.need_input_grad = true;
  auto m = Model::build(*be, {spec("dropout", {{"p", 0.25}})}, {1000}, opt);
  std::vector<float> ones(2000, 1.0f);
  Tensor x = from_host_floats(*be, ones, {2, 1000}, DType::F32);
  Context ctx{*be, true, 11, 5};
  auto y = to_host_floats(*be, m->forward(ctx, x));
  int kept = 0;
  for (float v : y) {
    CHECK((v == 0.0f || std::abs(v - 1.0f / 0.75f) < 1e-6f));
    kept += v != 0.0f;
  }
  CHECK(std::abs(kept / 2000.0 - 0.75) < 4 * std::sqrt(0.75 * 0.25 / 2000));
  auto dx = to_host_floats(*be, m->backward(ctx, x));
  for (size_t i = 0; i < y.size(); ++i) CHECK(dx[i] == y[i]);
  Context eval{*be, false, 11, 5};
  auto ye = to_host_floats(*be, m->forward(eval, x));
  for (float v : ye) CHECK(v == 1.0f);
}

TEST_CASE("cross-entropy loss and gradient vs fp64 log-softmax, with ignore_index") {
  auto be = make_cpu_backend(1);
  std::mt19937_64 g(5);
  const int64_t n = 5, k = 11;
  Vec logits = random_vec(static_cast<size_t>(n * k), g, 0.0, 4.0);
  std::vector<int32_t> labels = {3, 0, -100, 10, 7};
  Tensor lt = from_host_floats(*be, to_f(logits), {n, k}, DType::F32);
  Tensor yt = be->empty({n}, DType::I32);
  be->upload(labels.data(), yt);
  CrossEntropyLoss loss(-100);
  const double total = loss.compute(*be, lt, yt, 1.0f, true);
  auto ref = [&](const Vec& z) {
    double s = 0;
    for (int64_t r = 0; r < n; ++r) {
      if (labels[static_cast<size_t>(r)] == -100) continue;
      double mx = -1e300, se = 0;
      for (int64_t j = 0; j < k; ++j) mx = std::max(mx, z[static_cast<size_t>(r * k + j)]);
      for (int64_t j = 0; j < k; ++j) se += std::exp(z[static_cast<size_t>(r * k + j)] - mx);
      s += -(z[static_cast<size_t>(r * k + labels[static_cast<size_t>(r)])] - mx - std::log(se));
    }
    return s;
  };
  CHECK(total == doctest::Approx(ref(logits)).epsilon(1e-6));
  Vec fd(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    Vec p = logits, m = logits;
    p[i] += 1e-6;
    m[i] -= 1e-6;
    fd[i] = (ref(p) - ref(m)) / 2e-6;
  }
  check_close(to_d(to_host_floats(*be, loss.grad())), fd, 1e-3, "dCE/dlogits");
}

TEST_CASE("mse loss and gradient vs fp64") {
  auto be = make_cpu_backend(1);
  std::mt19937_64 g(6);
  const int64_t n = 3, k = 7;
  Vec pred = random_vec(static_cast<size_t>(n * k), g), tgt = random_vec(static_cast<size_t>(n * k), g);
  Tensor pt = from_host_floats(*be, to_f(pred), {n, k}, DType::F32);
  Tensor tt = from_host_floats(*be, to_f(tgt), {n, k}, DType::F32);
  MseLoss loss;
  const double total = loss.compute(*be, pt, tt, 1.0f, true);
  auto ref = [&](const Vec& p) {
    double s = 0;
    for (size_t i = 0; i < p.size(); ++i) s += (p[i] - tgt[i]) * (p[i] - tgt[i]);
    return s / k;  // per-sample mean over elements, summed over samples
  };
  CHECK(total == doctest::Approx(ref(pred)).epsilon(1e-6));
  Vec fd(pred.size());
  for (size_t i = 0; i < pred.size(); ++i) {
    Vec p = pred, m = pred;
    p[i] += 1e-6;
    m[i] -= 1e-6;
    fd[i] = (ref(p) - ref(m)) / 2e-6;
  }
  check_close(to_d(to_host_floats(*be, loss.grad())), fd, 1e-3, "dMSE/dpred");
}

// ---- conv2d, pooling, group_norm (NCHW) -----------------------------------------------------------
namespace {

struct Geo {
  int64_t n, c, h, w;
};

size_t at(int64_t a, int64_t b, int64_t c, int64_t d, int64_t B, int64_t C, int64_t D) {
  return static_cast<size_t>(((a * B + b) * C + c) * D + d);
}

// Naive fp64 convolution, PyTorch semantics (zero padding, dilation, groups).
Vec ref_conv(const Vec& x, const Vec& w, const Vec* b, Geo g, int64_t k, int64_t kern, int64_t st,
             int64_t pad, int64_t dil, int64_t groups) {
  const int64_t oh = (g.h + 2 * pad - dil * (kern - 1) - 1) / st + 1;
  const int64_t ow = (g.w + 2 * pad - dil * (kern - 1) - 1) / st + 1;
  const int64_t cg = g.c / groups, kg = k / groups;
  Vec y(static_cast<size_t>(g.n * k * oh * ow));
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t o = 0; o < k; ++o)
      for (int64_t yy = 0; yy < oh; ++yy)
        for (int64_t xx = 0; xx < ow; ++xx) {
          double s = b ? (*b)[static_cast<size_t>(o)] : 0.0;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t i = 0; i < kern; ++i)
              for (int64_t j = 0; j < kern; ++j) {
                const int64_t iy = yy * st - pad + i * dil, ix = xx * st - pad + j * dil;
                if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
                const int64_t c = (o / kg) * cg + ci;
                s += x[at(n, c, iy, ix, g.c, g.h, g.w)] * w[at(o, ci, i, j, cg, kern, kern)];
              }
          y[at(n, o, yy, xx, k, oh, ow)] = s;
        }
  return y;
}

// Naive fp64 max / average pooling (average divides by kern^2, padding counted as zero).
Vec ref_pool(const Vec& x, Geo g, int64_t kern, int64_t st, int64_t pad, bool max) {
  const int64_t oh = (g.h + 2 * pad - kern) / st + 1, ow = (g.w + 2 * pad - kern) / st + 1;
  Vec y(static_cast<size_t>(g.n * g.c * oh * ow));
  for (int64_t p = 0; p < g.n * g.c; ++p)
    for (int64_t yy = 0; yy < oh; ++yy)
      for (int64_t xx = 0; xx < ow; ++xx) {
        double s = max ? -1e300 : 0.0;
        for (int64_t i = 0; i < kern; ++i)
          for (int64_t j = 0; j < kern; ++j) {
            const int64_t iy = yy * st - pad + i, ix = xx * st - pad + j;
            if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
            const double v = x[at(0, p, iy, ix, 1, g.h, g.w)];
            s = max ? std::max(s, v) : s + v;
          }
        y[at(0, p, yy, xx, 1, oh, ow)] = max ? s : s / static_cast<double>(kern * kern);
      }
  return y;
}

Vec ref_group_norm(const Vec& x, const Vec& ga, const Vec& be, Geo g, int64_t groups, double eps) {
  const int64_t hw = g.h * g.w, cg = g.c / groups, row = cg * hw;
  Vec y(x.size());
  for (int64_t r = 0; r < g.n * groups; ++r) {
    double m = 0, v = 0;
    for (int64_t i = 0; i < row; ++i) m += x[static_cast<size_t>(r * row + i)];
    m /= static_cast<double>(row);
    for (int64_t i = 0; i < row; ++i) v += std::pow(x[static_cast<size_t>(r * row + i)] - m, 2);
    v /= static_cast<double>(row);
    for (int64_t i = 0; i < row; ++i) {
      const size_t c = static_cast<size_t>((r % groups) * cg + i / hw);
      const size_t e = static_cast<size_t>(r * row + i);
      y[e] = (x[e] - m) / std::sqrt(v + eps) * ga[c] + be[c];
    }
  }
  return y;
}

}  // namespace

TEST_CASE("conv2d: forward, input, weight and bias gradients vs fp64 finite differences") {
  struct C {
    std::string label;
    Geo g;
    int64_t k, kern, st, pad, dil, groups;
    bool bias;
  };
  const std::vector<C> cases = {
      {"3x3 plain", {2, 3, 5, 6}, 4, 3, 1, 0, 1, 1, true},
      {"stride 2 padding 1", {2, 3, 7, 6}, 5, 3, 2, 1, 1, 1, true},
      {"dilation 2", {1, 2, 7, 7}, 3, 3, 1, 1, 2, 1, false},
      {"groups 2", {2, 4, 5, 5}, 6, 3, 1, 1, 1, 2, true},
      {"1x1, 1 channel, odd", {3, 1, 3, 5}, 1, 1, 1, 0, 1, 1, true},
  };
  for (const C& c : cases) {
    LayerSpec s = spec("conv2d", {{"out", c.k}, {"kernel", c.kern}, {"stride", c.st},
                                  {"padding", c.pad}, {"dilation", c.dil}, {"groups", c.groups},
                                  {"bias", c.bias}});
    run_case({"conv2d " + c.label, {s}, c.g.n, c.g.c * c.g.h * c.g.w,
              [c](const Vec& x, const std::vector<Vec>& p) {
                return ref_conv(x, p[0], c.bias ? &p[1] : nullptr, c.g, c.k, c.kern, c.st, c.pad,
                                c.dil, c.groups);
              },
              Shape{c.g.c, c.g.h, c.g.w}});
  }
  // A per-sample [H, W] input is one channel.
  run_case({"conv2d on [H, W]", {spec("conv2d", {{"out", int64_t{2}}, {"kernel", int64_t{2}}})}, 2,
            20,
            [](const Vec& x, const std::vector<Vec>& p) {
              return ref_conv(x, p[0], &p[1], {2, 1, 4, 5}, 2, 2, 1, 0, 1, 1);
            },
            Shape{4, 5}});
}

TEST_CASE("max_pool2d, avg_pool2d, global_avg_pool: forward and input gradients vs fp64") {
  struct C {
    Geo g;
    int64_t kern, st, pad;
  };
  for (const C& c : std::vector<C>{{{2, 3, 6, 5}, 2, 0, 0},    // stride = kernel, odd width
                                   {{1, 2, 7, 7}, 3, 2, 1},    // overlapping, padded
                                   {{2, 1, 5, 4}, 3, 1, 1}}) { // stride 1: many windows per input
    for (bool max : {true, false}) {
      LayerSpec s = spec(max ? "max_pool2d" : "avg_pool2d",
                         {{"kernel", c.kern}, {"stride", c.st}, {"padding", c.pad}});
      const int64_t st = c.st ? c.st : c.kern;
      run_case({std::string(max ? "max" : "avg") + "_pool2d k" + std::to_string(c.kern) + " s" +
                    std::to_string(st) + " p" + std::to_string(c.pad),
                {s}, c.g.n, c.g.c * c.g.h * c.g.w,
                [c, st, max](const Vec& x, const std::vector<Vec>&) {
                  return ref_pool(x, c.g, c.kern, st, c.pad, max);
                },
                Shape{c.g.c, c.g.h, c.g.w}});
    }
  }
  run_case({"global_avg_pool", {spec("global_avg_pool")}, 3, 2 * 3 * 5,
            [](const Vec& x, const std::vector<Vec>&) {
              Vec y(x.size() / 15);
              for (size_t p = 0; p < y.size(); ++p) {
                for (size_t i = 0; i < 15; ++i) y[p] += x[p * 15 + i];
                y[p] /= 15.0;
              }
              return y;
            },
            Shape{2, 3, 5}});
}

TEST_CASE("max_pool2d: the gradient goes to the first maximum of a window (ties)") {
  auto be = make_cpu_backend(1);
  ModelOptions opt;
  opt.need_input_grad = true;
  auto m = Model::build(*be, {spec("max_pool2d", {{"kernel", int64_t{2}}})}, {1, 2, 4}, opt);
  Tensor x = from_host_floats(*be, {1, 3, 3, 0, 3, 3, 3, 3}, {1, 1, 2, 4}, DType::F32);
  Context ctx{*be, true};
  CHECK(to_host_floats(*be, m->forward(ctx, x)) == std::vector<float>{3, 3});
  Tensor dy = from_host_floats(*be, {5, 7}, {1, 1, 1, 2}, DType::F32);
  CHECK(to_host_floats(*be, m->backward(ctx, dy)) == std::vector<float>{0, 5, 7, 0, 0, 0, 0, 0});
}

TEST_CASE("group_norm: forward and gradients (x, gamma, beta) vs fp64 finite differences") {
  struct C {
    Geo g;
    int64_t groups;
  };
  for (const C& c : std::vector<C>{{{2, 4, 3, 3}, 2}, {{3, 6, 1, 5}, 3}, {{1, 3, 4, 2}, 1},
                                   {{2, 4, 1, 3}, 2}}) {
    run_case({"group_norm c" + std::to_string(c.g.c) + " g" + std::to_string(c.groups),
              {spec("group_norm", {{"groups", c.groups}})}, c.g.n, c.g.c * c.g.h * c.g.w,
              [c](const Vec& x, const std::vector<Vec>& p) {
                return ref_group_norm(x, p[0], p[1], c.g, c.groups, 1e-5);
              },
              Shape{c.g.c, c.g.h, c.g.w}});
  }
}

TEST_CASE("conv/pool/group_norm shape errors name the layer and the problem") {
  auto be = make_cpu_backend(1);
  auto msg = [&](std::vector<LayerSpec> l, Shape in) {
    try {
      Model::build(*be, l, in, ModelOptions{});
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string big = msg({spec("conv2d", {{"out", int64_t{2}}, {"kernel", int64_t{5}}})}, {1, 3, 3});
  CHECK(big.find("test: conv2d: kernel 5") != std::string::npos);
  CHECK(big.find("does not fit the input [1, 3, 3]") != std::string::npos);
  const std::string grp =
      msg({spec("conv2d", {{"out", int64_t{4}}, {"kernel", int64_t{1}}, {"groups", int64_t{2}}})}, {3, 4, 4});
  CHECK(grp.find("groups 2 must divide both the input channels (3)") != std::string::npos);
  CHECK(msg({spec("max_pool2d", {{"kernel", int64_t{2}}})}, {784}).find("expected a per-sample image") !=
        std::string::npos);
  CHECK(msg({spec("max_pool2d", {{"kernel", int64_t{2}}, {"padding", int64_t{2}}})}, {1, 8, 8})
            .find("padding 2 must be at most half the kernel 2") != std::string::npos);
  CHECK(msg({spec("group_norm", {{"groups", int64_t{4}}})}, {6, 2, 2}).find("groups 4 must divide the 6 channels") !=
        std::string::npos);
}
