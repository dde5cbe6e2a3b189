// nn_precision.cpp: layers under fp16/bf16 policies. Checks the rounding points of docs/ARCHITECTURE.md:
// outputs and activation gradients are stored in the compute dtype (every value representable),
// weight gradients stay fp32, GEMM outputs equal the rounding of the fp32-accumulated product of
// the rounded operands, and results track the fp32 model within the dtype's tolerance. A layer
// that silently computed in fp32 where the policy says bf16 fails these tests.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "nn/model.h"

using namespace mp;

namespace {

LayerSpec spec(const std::string& type, std::map<std::string, ParamValue> kv = {}) {
  LayerSpec s = default_layer_spec(type);
  for (auto& [k, v] : kv) s.params[k] = v;
  s.where = "test";
  return s;
}

float round_dt(float x, DType dt) {
  return dt == DType::BF16 ? round_to<bfloat16>(x) : dt == DType::F16 ? round_to<half>(x) : x;
}

double ulp_tol(DType dt) { return dt == DType::BF16 ? 1.0 / 128 : 1.0 / 1024; }

std::vector<float> randn(size_t n, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

struct Run {
  std::vector<float> y, dx;
  std::vector<std::vector<float>> grads;
  DType y_dtype, dx_dtype;
};

Run run(const std::vector<LayerSpec>& layers, DType dt, int64_t batch, int64_t in,
        std::vector<std::string> fp32_layers = {}, Shape sample = {}) {
  auto be = make_cpu_backend(1);
  ModelOptions opt;
  opt.compute = dt;
  opt.seed = 3;
  opt.need_input_grad = true;
  opt.fp32_layers = std::move(fp32_layers);
  auto m = Model::build(*be, layers, sample.empty() ? Shape{in} : sample, opt);
  Tensor x = from_host_floats(*be, randn(static_cast<size_t>(batch * in), 1), {batch, in}, DType::F32);
  Context ctx{*be, true, 1, 0};
  const Tensor& y = m->forward(ctx, x);
  Run r;
  r.y = to_host_floats(*be, y);
  r.y_dtype = y.dtype();
  Tensor dy = from_host_floats(*be, randn(r.y.size(), 2), y.shape(), y.dtype());
  const Tensor& dx = m->backward(ctx, dy);
  r.dx = to_host_floats(*be, dx);
  r.dx_dtype = dx.dtype();
  for (Parameter* p : m->params()) {
    CHECK(p->grad.dtype() == DType::F32);
    CHECK(p->master.dtype() == DType::F32);
    r.grads.push_back(to_host_floats(*be, p->grad));
  }
  return r;
}

void check_representable(const std::vector<float>& v, DType dt, const char* what) {
  int bad = 0;
  for (float x : v) bad += round_dt(x, dt) != x;
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " values not representable in " << dtype_name(dt));
}

void check_tracks(const std::vector<float>& lo, const std::vector<float>& ref, double tol, const char* what) {
  double err = 0, norm = 0;
  for (size_t i = 0; i < lo.size(); ++i) {
    err += (lo[i] - ref[i]) * (double)(lo[i] - ref[i]);
    norm += ref[i] * (double)ref[i];
  }
  CHECK_MESSAGE(std::sqrt(err / std::max(norm, 1e-30)) < tol, what);
}

// Each model under bf16 and fp16: outputs and input gradients stored in D and representable,
// weight gradients and masters fp32, all tracking the fp32 model within a few ulps.
void check_stores_in_d(const std::vector<std::vector<LayerSpec>>& models, int64_t batch, int64_t in,
                       const Shape& sample = {}) {
  for (DType dt : {DType::BF16, DType::F16}) {
    for (const auto& layers : models) {
      CAPTURE(layers[0].type);
      CAPTURE(dtype_name(dt));
      Run lo = run(layers, dt, batch, in, {}, sample), ref = run(layers, DType::F32, batch, in, {}, sample);
      CHECK(lo.y_dtype == dt);
      CHECK(lo.dx_dtype == dt);
      check_representable(lo.y, dt, "forward output");
      check_representable(lo.dx, dt, "input gradient");
      // Several rounding steps (input, weights, output) compound: allow a few ulps rms.
      check_tracks(lo.y, ref.y, 4 * ulp_tol(dt), "forward tracks fp32");
      check_tracks(lo.dx, ref.dx, 8 * ulp_tol(dt), "input gradient tracks fp32");
      for (size_t k = 0; k < lo.grads.size(); ++k) check_tracks(lo.grads[k], ref.grads[k], 8 * ulp_tol(dt), "param grad");
    }
  }
}

// Build options of the rounding tests: compute dtype dt, seed 9.
ModelOptions low_opts(DType dt) {
  ModelOptions opt;
  opt.compute = dt;
  opt.seed = 9;
  return opt;
}

}  // namespace

TEST_CASE("every layer under fp16/bf16 stores outputs and input gradients in the compute dtype") {
  check_stores_in_d({{spec("linear", {{"out", int64_t{13}}})}, {spec("relu")}, {spec("gelu")}, {spec("tanh")},
                     {spec("sigmoid")}, {spec("silu")}, {spec("layernorm")},
                     {spec("dropout", {{"p", 0.3}})}, {spec("lm_head", {{"vocab", int64_t{13}}})}},
                    5, 21);
}

TEST_CASE("conv2d, pooling and group_norm under fp16/bf16 store outputs and input gradients in D") {
  const Shape img{4, 9, 7};
  check_stores_in_d(
      {{spec("conv2d", {{"out", int64_t{5}}, {"kernel", int64_t{3}}, {"padding", int64_t{1}}})},
       {spec("conv2d", {{"out", int64_t{4}}, {"kernel", int64_t{3}}, {"stride", int64_t{2}},
                        {"dilation", int64_t{2}}, {"groups", int64_t{2}}})},
       {spec("max_pool2d", {{"kernel", int64_t{2}}})},
       {spec("avg_pool2d", {{"kernel", int64_t{3}}, {"stride", int64_t{2}}, {"padding", int64_t{1}}})},
       {spec("global_avg_pool")},
       {spec("group_norm", {{"groups", int64_t{2}}})}},
      3, shape_numel(img), img);
}

TEST_CASE("conv2d under bf16/fp16 equals RNE(fp32 accumulation of rounded x and W, plus fp32 bias)") {
  for (DType dt : {DType::BF16, DType::F16}) {
    CAPTURE(dtype_name(dt));
    auto be = make_cpu_backend(1);
    const ModelOptions opt = low_opts(dt);
    const int64_t n = 2, c = 3, h = 6, w = 5, k = 4, kern = 3;  // padding 1, stride 1
    auto m = Model::build(*be, {spec("conv2d", {{"out", k}, {"kernel", kern}, {"padding", int64_t{1}}})},
                          {c, h, w}, opt);
    Parameter* bias = m->params()[1];
    set_parameter_values(*be, *bias, from_host_floats(*be, randn(size_t(k), 4), {k}, DType::F32));
    const auto ww = to_host_floats(*be, m->params()[0]->working);
    const auto bw = to_host_floats(*be, bias->working);
    std::vector<float> xv = randn(size_t(n * c * h * w), 8);
    Tensor x = from_host_floats(*be, xv, {n, c * h * w}, DType::F32);
    Context ctx{*be, true, 0, 0};
    const auto y = to_host_floats(*be, m->forward(ctx, x));
    int mismatch = 0;
    size_t o = 0;
    for (int64_t s = 0; s < n; ++s)
      for (int64_t ko = 0; ko < k; ++ko)
        for (int64_t yy = 0; yy < h; ++yy)
          for (int64_t xx = 0; xx < w; ++xx, ++o) {
            double acc = 0;
            for (int64_t ci = 0; ci < c; ++ci)
              for (int64_t i = 0; i < kern; ++i)
                for (int64_t j = 0; j < kern; ++j) {
                  const int64_t iy = yy - 1 + i, ix = xx - 1 + j;
                  if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                  acc += double(round_dt(xv[size_t(((s * c + ci) * h + iy) * w + ix)], dt)) *
                         ww[size_t(((ko * c + ci) * kern + i) * kern + j)];
                }
            const float want = round_dt(static_cast<float>(acc + bw[size_t(ko)]), dt);
            if (y[o] != want) {  // fp32 vs fp64 accumulation may flip a tie: 1 ulp, rarely
              ++mismatch;
              CHECK(std::abs(y[o] - want) <= std::abs(want) * 2 * ulp_tol(dt) + 1e-30);
            }
          }
    CHECK(o == y.size());
    CHECK(mismatch <= 3);
  }
}

TEST_CASE("linear under bf16/fp16 equals RNE(fp32 accumulation of rounded x and W, plus fp32 bias)") {
  for (DType dt : {DType::BF16, DType::F16}) {
    CAPTURE(dtype_name(dt));
    auto be = make_cpu_backend(1);
    const ModelOptions opt = low_opts(dt);
    const int64_t b = 6, in = 37, out = 11;
    auto m = Model::build(*be, {spec("linear", {{"out", out}})}, {in}, opt);
    Parameter* w = m->params()[0];
    Parameter* bias = m->params()[1];
    std::vector<float> bvals = randn(static_cast<size_t>(out), 4);
    set_parameter_values(*be, *bias, from_host_floats(*be, bvals, {out}, DType::F32));
    auto wm = to_host_floats(*be, w->master);
    auto ww = to_host_floats(*be, w->working);
    auto bw = to_host_floats(*be, bias->working);
    for (size_t i = 0; i < wm.size(); ++i) REQUIRE(ww[i] == round_dt(wm[i], dt));  // working = RNE(master)
    std::vector<float> xv = randn(static_cast<size_t>(b * in), 8);
    Tensor x = from_host_floats(*be, xv, {b, in}, DType::F32);
    Context ctx{*be, true, 0, 0};
    auto y = to_host_floats(*be, m->forward(ctx, x));
    int mismatch = 0;
    for (int64_t r = 0; r < b; ++r)
      for (int64_t o = 0; o < out; ++o) {
        double acc = 0;
        for (int64_t i = 0; i < in; ++i)
          acc += (double)round_dt(xv[static_cast<size_t>(r * in + i)], dt) * ww[static_cast<size_t>(o * in + i)];
        acc += bw[static_cast<size_t>(o)];
        const float want = round_dt(static_cast<float>(acc), dt);
        const float got = y[static_cast<size_t>(r * out + o)];
        // fp32 vs fp64 accumulation may flip a rounding exactly at a tie: at most 1 ulp, rarely.
        if (got != want) {
          ++mismatch;
          CHECK(std::abs(got - want) <= std::abs(want) * 2 * ulp_tol(dt) + 1e-30);
        }
      }
    CHECK(mismatch <= 2);
  }
}

TEST_CASE("fp32_layers keeps the named layer in fp32 inside a bf16 model") {
  std::vector<LayerSpec> layers = {spec("linear", {{"out", int64_t{8}}}), spec("relu"),
                                   spec("linear", {{"out", int64_t{3}}, {"name", std::string("head")}})};
  Run r = run(layers, DType::BF16, 4, 10, {"head"});
  CHECK(r.y_dtype == DType::F32);
  CHECK(r.dx_dtype == DType::BF16);
  int not_bf16 = 0;
  for (float v : r.y) not_bf16 += round_dt(v, DType::BF16) != v;
  CHECK(not_bf16 > 0);  // the head really computed in fp32

  layers[2].params["precision"] = std::string("fp32");
  layers[2].params["name"] = std::string("");
  Run r2 = run(layers, DType::BF16, 4, 10);
  CHECK(r2.y_dtype == DType::F32);
}

TEST_CASE("pure bf16 (master_weights: none) keeps a single bf16 copy of each weight") {
  auto be = make_cpu_backend(1);
  ModelOptions opt;
  opt.compute = DType::BF16;
  opt.master_fp32 = false;
  auto m = Model::build(*be, {spec("linear", {{"out", int64_t{4}}})}, {6}, opt);
  for (Parameter* p : m->params()) {
    CHECK(p->master.dtype() == DType::BF16);
    CHECK(p->master.raw() == p->working.raw());
    CHECK(p->grad.dtype() == DType::F32);
  }
}
