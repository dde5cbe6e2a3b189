// nn_linear_fusion.cpp: Linear layers doing a neighbouring gelu(tanh)'s work (linear_fusion.h).
// On the CPU engine a model built with the fusion gives the same bits as one built without it:
// outputs, losses, parameter gradients over two accumulated micro-batches, input gradients, in
// fp32, bf16 and fp16; the fused ops really run in place of the separate ones (counted through
// the benchmarks' TimingBackend decorator); which pairs are linked (gelu exact and a dtype
// change are not); a probe pass runs unfused; parameter names do not change.
#include <doctest/doctest.h>

#include <cstring>
#include <random>

#include "../../bench/timing_backend.h"
#include "nn/linear_fusion.h"
#include "nn/model.h"
#include "nn/sequential.h"
#include "unit/nn_test_util.h"

using namespace mp;
using namespace mp::nn_test;

namespace {

constexpr int64_t kT = 4, kC = 8, kB = 3;

// A transformer block (its MLP: linear, gelu(tanh), linear) then linear, gelu(tanh), linear,
// gelu(exact), linear: every kind of neighbour.
std::vector<LayerSpec> layers() {
  return {spec("transformer_block", {{"heads", int64_t{2}}}),
          spec("linear", {{"out", int64_t{16}}}),
          spec("gelu", {{"approximate", std::string("tanh")}}),
          spec("linear", {{"out", int64_t{8}}}),
          spec("gelu", {{"approximate", std::string("none")}}),
          spec("linear", {{"out", int64_t{8}}})};
}

struct Run {
  std::unique_ptr<Backend> be;
  bench::TimingBackend* timing = nullptr;
  std::unique_ptr<Model> model;
};

Run build(DType dt, bool fuse, std::vector<std::string> fp32_layers = {}) {
  Run r;
  auto t = std::make_unique<bench::TimingBackend>(make_cpu_backend(1));
  r.timing = t.get();
  r.be = std::move(t);
  ModelOptions opt;
  opt.compute = dt;
  opt.need_input_grad = true;
  opt.fuse_linear_gelu = fuse;
  opt.fp32_layers = std::move(fp32_layers);
  r.model = Model::build(*r.be, layers(), {kT, kC}, opt);
  std::mt19937_64 g(11);
  for (Parameter* p : r.model->params()) {
    const Vec v = random_vec(static_cast<size_t>(p->master.numel()), g, 0.05, 0.8);
    set_parameter_values(*r.be, *p, from_host_floats(*r.be, to_f(v), p->master.shape(), DType::F32));
    if (p->trainable()) r.be->fill(p->grad, 0.0f);
  }
  return r;
}

std::vector<uint32_t> bits(Backend& be, const Tensor& t) {
  const std::vector<float> f = to_host_floats(be, t);
  std::vector<uint32_t> u(f.size());
  std::memcpy(u.data(), f.data(), f.size() * 4);
  return u;
}

struct Result {
  std::vector<std::vector<uint32_t>> outputs, losses, dx, grads;
};

// Two micro-batches: forward, mse against a target, backward (gradients accumulate).
Result train_pass(Run& r, RoundingProbe* probe = nullptr) {
  Backend& be = *r.be;
  Result res;
  std::mt19937_64 g(5);
  for (int mb = 0; mb < 2; ++mb) {
    const Vec x = random_vec(static_cast<size_t>(kB * kT * kC), g, 0.1, 1.0);
    const Vec target = random_vec(static_cast<size_t>(kB * kT * kC), g, 0.1, 1.0);
    Context ctx(be, true, 1, static_cast<uint64_t>(mb));
    ctx.probe = probe;
    const Tensor tx = from_host_floats(be, to_f(x), {kB, kT, kC}, DType::F32);
    const Tensor& y = r.model->forward(ctx, tx);
    Tensor y32 = be.empty(y.shape(), DType::F32);
    be.cast(y, y32);
    const Tensor tt = from_host_floats(be, to_f(target), {kB * kT, kC}, DType::F32);
    Tensor losses = be.empty({kB * kT}, DType::F32);
    Tensor dy32 = be.empty({kB * kT, kC}, DType::F32);
    Tensor y2 = y32.reshape({kB * kT, kC});
    be.mse(y2, tt, 1.0f, losses, &dy32);
    Tensor dy = be.empty(y.shape(), y.dtype());
    be.cast(dy32, dy);
    const Tensor& dx = r.model->backward(ctx, dy);
    res.outputs.push_back(bits(be, y));
    res.losses.push_back(bits(be, losses));
    res.dx.push_back(bits(be, dx));
  }
  for (Parameter* p : r.model->params()) res.grads.push_back(bits(be, p->grad));
  return res;
}

long long calls(const Run& r, const char* op) {
  const auto& st = r.timing->stats();
  const auto it = st.find(op);
  return it == st.end() ? 0 : it->second.calls;
}

struct NullProbe final : RoundingProbe {
  int seen = 0;
  void observe(const Layer&, RoundingPoint, const Tensor&,
               const std::function<void(Tensor&)>&) override {
    ++seen;
  }
};

}  // namespace

TEST_CASE("linear + gelu fusion: the same bits as the unfused model on the CPU engine") {
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
    CAPTURE(dtype_name(dt));
    Run plain = build(dt, false), fused = build(dt, true);
    const Result a = train_pass(plain), b = train_pass(fused);
    CHECK(a.outputs == b.outputs);
    CHECK(a.losses == b.losses);
    CHECK(a.dx == b.dx);
    REQUIRE(a.grads.size() == b.grads.size());
    for (size_t i = 0; i < a.grads.size(); ++i)
      CHECK_MESSAGE(a.grads[i] == b.grads[i], plain.model->params()[i]->name);
    // The fused ops ran instead of the separate ones: 2 pairs each way, 2 micro-batches.
    CHECK(calls(plain, "linear_gelu_forward") == 0);
    CHECK(calls(plain, "linear_dgelu_backward") == 0);
    CHECK(calls(fused, "linear_gelu_forward") == 4);
    CHECK(calls(fused, "linear_dgelu_backward") == 4);
    CHECK(calls(plain, "activation_forward") - calls(fused, "activation_forward") == 4);
    CHECK(calls(plain, "activation_backward") - calls(fused, "activation_backward") == 4);
    // Every Linear with a trained bias takes its parameter gradients in one op, fused or not.
    CHECK(calls(fused, "linear_param_grad") == calls(plain, "linear_param_grad"));
    CHECK(calls(fused, "linear_param_grad") >= 2 * 5);  // fc, proj, 3 linears; 2 micro-batches
    CHECK(calls(fused, "bias_grad") == calls(plain, "bias_grad"));
  }
}

TEST_CASE("linear + gelu fusion: which pairs are linked; parameter names unchanged") {
  Run plain = build(DType::F32, false), fused = build(DType::F32, true);
  std::vector<std::string> a, b;
  for (Parameter* p : plain.model->params()) a.push_back(p->name);
  for (Parameter* p : fused.model->params()) b.push_back(p->name);
  CHECK(a == b);
  CHECK(plain.model->summary().size() == fused.model->summary().size());
  // The MLP's two pairs, layers.1-2 and layers.2-3; not the exact gelu (layers.4).
  CHECK(plain.model->linear_gelu_links() == 0);
  CHECK(fused.model->linear_gelu_links() == 4);
  Sequential empty;
  CHECK(fuse_linear_gelu(empty) == 0);
  // A Linear kept in fp32 next to a bf16 gelu: a cast between them, no link on that side.
  ModelOptions opt;
  opt.compute = DType::BF16;
  opt.fp32_layers = {"layers.3"};
  auto be = make_cpu_backend(1);
  CHECK(Model::build(*be, layers(), {kT, kC}, opt)->linear_gelu_links() == 3);
}

TEST_CASE("linear + gelu fusion: a probe pass runs the separate ops (each rounding observed)") {
  Run plain = build(DType::BF16, false), fused = build(DType::BF16, true);
  NullProbe pa, pb;
  const Result a = train_pass(plain, &pa), b = train_pass(fused, &pb);
  CHECK(a.outputs == b.outputs);
  CHECK(a.grads == b.grads);
  CHECK(pa.seen == pb.seen);
  CHECK(pa.seen > 0);
  CHECK(calls(fused, "linear_gelu_forward") == 0);
  CHECK(calls(fused, "linear_dgelu_backward") == 0);
}
