// nn_residual_layernorm_fusion.cpp: a tiny pre-norm GPT body (two transformer_blocks with
// dropout, a final layernorm, a linear head) runs its residual adds fused with the layernorm that
// reads them (Backend::add_layernorm_forward) and gives the same bits as with the fusion off: the
// output, the input gradient and every parameter gradient, in fp32, bf16 and fp16, in training and
// at another batch size in evaluation. The engine is wrapped in bench's TimingBackend, which
// counts the calls: the fused op runs once per residual that a layernorm reads (4 per forward
// here), never when switched off, and not where the dtypes differ (fp32_layers on one layernorm).
#include <doctest/doctest.h>

#include <cstring>
#include <memory>
#include <random>

#include "../../bench/timing_backend.h"
#include "nn/model.h"
#include "nn/sequential.h"
#include "unit/nn_test_util.h"

using namespace mp;
using namespace mp::nn_test;

namespace {

constexpr int64_t kT = 4, kC = 8;

struct Result {
  std::vector<std::vector<float>> tensors;  // output, input gradient, then each parameter's grad
  int64_t fused_calls = 0;
};

int64_t calls(const bench::TimingBackend& be, const std::string& op) {
  auto it = be.stats().find(op);
  return it == be.stats().end() ? 0 : it->second.calls;
}

// One training forward/backward at batch 2 and one evaluation forward at batch 3.
Result run(DType compute, bool fuse, const std::vector<std::string>& fp32_layers = {}) {
  set_residual_layernorm_fusion(fuse);
  bench::TimingBackend be(make_cpu_backend(2));
  ModelOptions opt;
  opt.compute = compute;
  opt.need_input_grad = true;
  opt.fp32_layers = fp32_layers;
  std::vector<LayerSpec> layers;
  for (int i = 0; i < 2; ++i)
    layers.push_back(spec("transformer_block", {{"heads", int64_t{2}}, {"dropout", 0.1},
                                                {"name", "blocks." + std::to_string(i)}}));
  layers.push_back(spec("layernorm", {{"name", std::string("ln_f")}}));
  layers.push_back(spec("linear", {{"out", int64_t{6}}, {"name", std::string("head")}}));
  auto model = Model::build(be, layers, {kT, kC}, opt);
  std::mt19937_64 g(11);
  for (Parameter* p : model->params())  // gammas and betas too, so no layernorm is the identity
    set_parameter_values(be, *p,
                         from_host_floats(be, to_f(random_vec(size_t(p->master.numel()), g, 0.05, 0.6)),
                                          p->master.shape(), DType::F32));
  Result r;
  const int64_t B = 2;
  // Inputs off-centre, so each sum rounds in bf16/fp16 and the layernorms see it.
  Tensor x = from_host_floats(be, to_f(random_vec(size_t(B * kT * kC), g, 0.5, 3.0)), {B, kT, kC}, compute);
  Context train{be, true, 3, 0};
  r.tensors.push_back(to_host_floats(be, model->forward(train, x)));
  Tensor dy = from_host_floats(be, to_f(random_vec(size_t(B * kT * 6), g)), {B, kT, 6}, compute);
  r.tensors.push_back(to_host_floats(be, model->backward(train, dy)));
  for (Parameter* p : model->params()) r.tensors.push_back(to_host_floats(be, p->grad));
  Tensor x3 = from_host_floats(be, to_f(random_vec(size_t(3 * kT * kC), g, 0.5, 3.0)), {3, kT, kC}, compute);
  Context eval{be, false, 3, 0};
  r.tensors.push_back(to_host_floats(be, model->forward(eval, x3)));
  r.fused_calls = calls(be, "add_layernorm_forward");
  set_residual_layernorm_fusion(true);
  return r;
}

void check_same_bits(const Result& fused, const Result& plain) {
  REQUIRE(fused.tensors.size() == plain.tensors.size());
  for (size_t t = 0; t < fused.tensors.size(); ++t) {
    const auto& a = fused.tensors[t];
    const auto& b = plain.tensors[t];
    REQUIRE(a.size() == b.size());
    int bad = 0;
    for (size_t i = 0; i < a.size(); ++i)
      if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0 && bad++ < 3)
        FAIL_CHECK("tensor " << t << "[" << i << "]: fused " << a[i] << ", separate " << b[i]);
    CHECK_MESSAGE(bad == 0, "tensor " << t << ": " << bad << " of " << a.size() << " differ");
  }
}

}  // namespace

TEST_CASE("residual + layernorm fusion: same bits as the separate layers, in every dtype") {
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
    CAPTURE(dtype_name(dt));
    const Result fused = run(dt, true), plain = run(dt, false);
    // blocks.0.attn_res -> ln2, blocks.0.mlp_res -> blocks.1.ln1, blocks.1.attn_res -> ln2,
    // blocks.1.mlp_res -> ln_f: 4 per forward, two forwards.
    CHECK(fused.fused_calls == 8);
    CHECK(plain.fused_calls == 0);
    check_same_bits(fused, plain);
  }
}

TEST_CASE("residual + layernorm fusion: a layernorm of another dtype reads a cast, not the sum") {
  // blocks.1.ln1 computes in fp32 while the residual before it is bf16: that pair stays separate
  // (the layernorm's input is the fp32 cast of the sum), the other three fuse.
  const std::vector<std::string> fp32 = {"blocks.1.ln1"};
  const Result fused = run(DType::BF16, true, fp32), plain = run(DType::BF16, false, fp32);
  CHECK(fused.fused_calls == 6);
  check_same_bits(fused, plain);
}
