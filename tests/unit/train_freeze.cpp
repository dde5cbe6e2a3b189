// train_freeze.cpp: optimizer.freeze. A frozen parameter has no gradient buffer, its weight
// gradient ops (wgrad GEMM, bias_grad, layernorm dgamma/dbeta) are not called at all (counted on a
// CpuBackend that counts its hooks), it gets no optimizer state, and its master and working bits
// do not change over training steps, while the input gradient flowing through it and every other
// gradient are bit-equal to the unfrozen model's.
#include <doctest/doctest.h>

#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "optim/optimizer.h"
#include "train/param_select.h"
#include "train/train_step.h"

using namespace mp;

namespace {

// Counts the parameter-gradient hooks, then runs the real CPU engine.
class CountingCpu : public cpu::CpuBackend {
 public:
  CountingCpu() : CpuBackend(1) {}
  int gemms = 0, wgrad_gemms = 0, bias_grads = 0, ln_param_grads = 0;

 protected:
  void gemm_impl(const GemmDesc& s, float alpha, const Tensor& A, const Tensor& B, float beta,
                 Tensor& C, const Tensor* bias) override {
    ++gemms;
    wgrad_gemms += s.trans_a ? 1 : 0;  // linear's dW = dy^T x is its only transposed-A GEMM
    CpuBackend::gemm_impl(s, alpha, A, B, beta, C, bias);
  }
  void bias_grad_impl(const Tensor& dy, Tensor& db, float beta) override {
    ++bias_grads;
    CpuBackend::bias_grad_impl(dy, db, beta);
  }
  void layernorm_backward_impl(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                               const Tensor& mean, const Tensor& rstd, Tensor& dx, Tensor& dgamma,
                               Tensor& dbeta) override {
    ln_param_grads += (dgamma.defined() ? 1 : 0) + (dbeta.defined() ? 1 : 0);
    CpuBackend::layernorm_backward_impl(dy, x, gamma, mean, rstd, dx, dgamma, dbeta);
  }
};

LayerSpec layer(const std::string& type, const std::string& name, int64_t out = 0) {
  LayerSpec s = default_layer_spec(type);
  if (!name.empty()) s.params["name"] = name;
  if (out > 0) s.params["out"] = out;
  s.where = "test";
  return s;
}

std::unique_ptr<Model> mlp(Backend& be, DType compute) {
  ModelOptions o;
  o.compute = compute;
  o.seed = 7;
  o.need_input_grad = true;  // the input gradient flows through the (frozen) first layer
  return Model::build(be,
                      {layer("linear", "fc1", 7), layer("layernorm", "ln"), layer("relu", ""),
                       layer("linear", "fc2", 5), layer("relu", ""), layer("linear", "head", 3)},
                      {6}, o);
}

std::vector<uint32_t> bits(Backend& be, const Tensor& t) {
  Tensor f = be.empty(t.shape(), DType::F32);
  be.cast(t, f);
  const std::vector<float> v = to_host_floats(be, f);
  std::vector<uint32_t> b(v.size());
  std::memcpy(b.data(), v.data(), v.size() * 4);
  return b;
}

struct Batch4 {
  Tensor x, y;
  Batch4(Backend& be, int step) {
    std::vector<float> xs(24);
    for (size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<float>((i * 7 + step * 3) % 11) / 5.0f - 1.0f;
    x = from_host_floats(be, xs, {4, 6}, DType::F32);
    const std::vector<int32_t> ys = {0, 2, 1, (step % 3)};
    y = be.empty({4}, DType::I32);
    be.upload(ys.data(), y);
  }
};

}  // namespace

TEST_CASE("freeze_params: a frozen parameter has no gradient buffer and is not trainable") {
  CountingCpu be;
  auto m = mlp(be, DType::F32);
  const auto frozen = freeze_params(m->params(), {"fc1", "ln.weight"});
  CHECK(frozen == std::vector<std::string>{"fc1.weight", "fc1.bias", "ln.weight"});
  CHECK_FALSE(m->find_param("fc1.weight")->grad.defined());
  CHECK(m->find_param("fc1.weight")->master.defined());  // the value stays (checkpoints, export)
  CHECK(m->find_param("ln.bias")->trainable());
  CHECK(param_names(m->trainable_params()) ==
        std::vector<std::string>{"ln.bias", "fc2.weight", "fc2.bias", "head.weight", "head.bias"});
  CHECK(m->params().size() == 8);  // still the complete model
}

TEST_CASE("freeze_params: every entry matching nothing is named; freezing everything is refused") {
  CountingCpu be;
  auto m = mlp(be, DType::F32);
  try {
    freeze_params(m->params(), {"fc", "fc2", "heda"});
    FAIL("no error");
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    CHECK(msg.find("optimizer.freeze") != std::string::npos);
    CHECK(msg.find("\"fc\"") != std::string::npos);
    CHECK(msg.find("\"heda\" (did you mean \"head\"?)") != std::string::npos);
    CHECK(msg.find("\"fc2\"") == std::string::npos);  // it matches
  }
  for (Parameter* p : m->params()) CHECK(p->trainable());  // nothing frozen by a refused list
  CHECK_THROWS_WITH_AS(freeze_params(m->params(), {"*"}),
                       doctest::Contains("freezes every parameter"), ConfigError);
}

TEST_CASE("frozen layers: no weight-gradient ops, same input gradient, bits unchanged, no optimizer slot") {
  for (DType compute : {DType::F32, DType::BF16}) {
    CAPTURE(dtype_name(compute));
    CountingCpu be_a, be_b;
    auto plain = mlp(be_a, compute);
    auto frozen = mlp(be_b, compute);
    freeze_params(frozen->params(), {"fc1", "ln"});
    const auto fc1_master = bits(be_b, frozen->find_param("fc1.weight")->master);
    const auto fc1_working = bits(be_b, frozen->find_param("fc1.weight")->working);
    const auto ln_master = bits(be_b, frozen->find_param("ln.weight")->master);
    const auto fc2_master = bits(be_b, frozen->find_param("fc2.weight")->master);

    CrossEntropyLoss loss_a(-100), loss_b(-100);
    ScheduleSpec sched;
    const LrSchedule schedule(sched, 1e-2);
    OptimizerSpec os;
    os.lr = 1e-2;
    auto opt_a = make_optimizer(os, 1), opt_b = make_optimizer(os, 1);
    LossScaler scaler_a(LossScaleMode::None, {}), scaler_b(LossScaleMode::None, {});
    TrainStep step_a{be_a, *plain, loss_a, *opt_a, schedule, scaler_a, 10, 0.0, {}};
    TrainStep step_b{be_b, *frozen, loss_b, *opt_b, schedule, scaler_b, 10, 0.0, {}};
    zero_grads(be_a, plain->trainable_params());
    zero_grads(be_b, frozen->trainable_params());
    for (int s = 0; s < 3; ++s) {
      Batch4 ba(be_a, s), bb(be_b, s);
      Context ca{be_a, true, 1, 0}, cb{be_b, true, 1, 0};
      const StepNormalisation norm = step_normalisation(4, 1.0);
      be_a.gemms = be_a.wgrad_gemms = be_a.bias_grads = be_a.ln_param_grads = 0;
      be_b.gemms = be_b.wgrad_gemms = be_b.bias_grads = be_b.ln_param_grads = 0;
      step_a.micro_batch(ca, ba.x, ba.y, norm.grad_scale);
      step_b.micro_batch(cb, bb.x, bb.y, norm.grad_scale);
      // 3 forward + 3 input-gradient GEMMs in both; weight gradients: 3 vs 2 (fc1's skipped).
      CHECK(be_a.wgrad_gemms == 3);
      CHECK(be_b.wgrad_gemms == 2);
      CHECK(be_b.gemms == be_a.gemms - 1);
      CHECK(be_a.bias_grads == 3);
      CHECK(be_b.bias_grads == 2);
      CHECK(be_a.ln_param_grads == 2);
      CHECK(be_b.ln_param_grads == 0);
      if (s == 0) {
        // Same weights so far: the gradient reaching the input through the frozen fc1 and ln, and
        // every gradient both models compute, are bit-equal.
        const Tensor& dx_a = plain->backward(ca, loss_a.grad());  // a second backward: same dx
        const Tensor& dx_b = frozen->backward(cb, loss_b.grad());
        CHECK(bits(be_a, dx_a) == bits(be_b, dx_b));
        for (Parameter* p : frozen->trainable_params())
          CHECK_MESSAGE(bits(be_b, p->grad) == bits(be_a, plain->find_param(p->name)->grad), p->name);
        zero_grads(be_a, plain->trainable_params());
        zero_grads(be_b, frozen->trainable_params());
        step_a.micro_batch(ca, ba.x, ba.y, norm.grad_scale);
        step_b.micro_batch(cb, bb.x, bb.y, norm.grad_scale);
      }
      CHECK_FALSE(step_a.finish(norm).skipped);
      CHECK_FALSE(step_b.finish(norm).skipped);
    }
    CHECK(bits(be_b, frozen->find_param("fc1.weight")->master) == fc1_master);
    CHECK(bits(be_b, frozen->find_param("fc1.weight")->working) == fc1_working);
    CHECK(bits(be_b, frozen->find_param("ln.weight")->master) == ln_master);
    CHECK(bits(be_b, frozen->find_param("fc2.weight")->master) != fc2_master);  // it trains
    CHECK(bits(be_a, plain->find_param("fc1.weight")->master) != fc1_master);   // and unfrozen would
    // Optimizer state only for the trainable parameters (sorted names).
    CHECK(opt_b->param_names() ==
          std::vector<std::string>{"fc2.bias", "fc2.weight", "head.bias", "head.weight"});
    CHECK(opt_a->param_names().size() == 8);
  }
}
