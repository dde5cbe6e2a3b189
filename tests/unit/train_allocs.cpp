// train_allocs.cpp: issue 12 ("the allocator pre-warms so a steady-state step allocates
// nothing") on the CPU engine. Backend counts empty() calls in its front door
// (Backend::allocations), and the CUDA engine's hooks take their temporaries from workspaces
// (CudaBackend::workspace), not empty(), so this count is the CUDA engine's too. Small models
// covering the layer library (linear, activations, dropout, residual, layernorm, conv2d,
// group_norm, pooling, embedding, positional embedding, transformer blocks with fused and unfused
// attention, tied LM head; cross-entropy and MSE) train through TrainStep as the trainer runs it
// (accumulation 2, each micro-batch uploaded into one DeviceBatch, AdamW, clipping), fp32 and
// bf16 mixed with a dynamic loss scale, step 4 skipped for non-finite gradients: steps 3 and 4
// make no empty() call, so every tensor a step uses keeps its address from the first step on
// (what replaying a step as a CUDA graph needs).
//
// And the reuse changes no bits: each step is compared with the same step run by fresh layers,
// loss and step stats (a model rebuilt every step, parameters copied in, one optimizer and scaler
// shared), whose every temporary is newly allocated. Then a shorter batch (an epoch's last) and
// the full size again still match and, back at the full size, allocate nothing.
#include <doctest/doctest.h>

#include "nn/loss.h"
#include "nn/model.h"
#include "optim/lr_schedule.h"
#include "optim/optimizer.h"
#include "optim/optimizer_step.h"
#include "precision/loss_scaler.h"
#include "train/device_batch.h"
#include "train/train_step.h"
#include "unit/backend_test_util.h"
#include "unit/optim_fixtures.h"
#include "unit/train_step_run.h"

using namespace mp;

namespace {

using Params = std::map<std::string, ParamValue>;

LayerSpec layer(const std::string& type, Params kv = {}, std::vector<LayerSpec> children = {}) {
  LayerSpec s = default_layer_spec(type);
  for (auto& [k, v] : kv) s.params[k] = v;
  s.children = std::move(children);
  s.where = "test";
  return s;
}

struct Case {
  const char* name;
  std::vector<LayerSpec> layers;
  Shape sample;
  const char* loss;
  int64_t vocab = 0;  // > 0: token ids in [0, vocab) in, next-token labels [B, T] out
};

std::vector<Case> cases() {
  const auto gpt = [](const char* attention, double dropout) {
    return std::vector<LayerSpec>{
        layer("embedding", {{"vocab", int64_t(11)}, {"dim", int64_t(64)}, {"name", std::string("tok")}}),
        layer("positional_embedding"),
        layer("transformer_block", {{"heads", int64_t(2)},
                                    {"attention", std::string(attention)},
                                    {"dropout", dropout}}),
        layer("causal_self_attention", {{"heads", int64_t(2)}, {"attention", std::string(attention)}}),
        layer("layernorm"),
        layer("lm_head", {{"vocab", int64_t(11)}, {"tie", true}})};
  };
  return {
      {"mlp",
       {layer("linear", {{"out", int64_t(32)}}), layer("relu"), layer("dropout", {{"p", 0.2}}),
        layer("linear", {{"out", int64_t(10)}})},
       {12},
       "cross_entropy"},
      {"residual mse",
       {layer("linear", {{"out", int64_t(16)}}),
        layer("residual", {},
              {layer("layernorm"), layer("linear", {{"out", int64_t(16)}}),
               layer("gelu", {{"approximate", std::string("none")}}), layer("tanh"),
               layer("linear", {{"out", int64_t(16)}, {"bias", false}})}),
        layer("layernorm", {{"affine", false}}), layer("silu"), layer("sigmoid"),
        layer("linear", {{"out", int64_t(3)}})},
       {12},
       "mse"},
      {"cnn",
       {layer("conv2d", {{"out", int64_t(4)}, {"kernel", int64_t(3)}, {"padding", int64_t(1)}}),
        layer("group_norm", {{"groups", int64_t(2)}}), layer("relu"),
        layer("max_pool2d", {{"kernel", int64_t(2)}}),
        layer("conv2d", {{"out", int64_t(4)},
                         {"kernel", int64_t(3)},
                         {"padding", int64_t(1)},
                         {"groups", int64_t(2)},
                         {"bias", false}}),
        layer("avg_pool2d", {{"kernel", int64_t(2)}}), layer("global_avg_pool"),
        layer("linear", {{"out", int64_t(5)}})},
       {2, 8, 8},
       "cross_entropy"},
      {"gpt fused", gpt("fused", 0.0), {8}, "cross_entropy", 11},
      {"gpt unfused dropout", gpt("unfused", 0.1), {8}, "cross_entropy", 11},
  };
}

// Micro-batch m of step s, on the host: B samples.
Batch host_batch(const Case& c, const Shape& out, int64_t B, int s, int m) {
  Batch b;
  b.size = b.num_real = B;
  b.x_shape = batch_shape(B, c.sample);
  const uint32_t seed = uint32_t(100 * s + m + 1);
  b.x = test::random_floats(size_t(shape_numel(b.x_shape)), 0.0f, 1.0f, seed, DType::F32);
  if (c.vocab > 0) {
    for (float& v : b.x) v = float(int64_t(v * float(c.vocab)) % c.vocab);
    b.y_shape = {B, c.sample[0]};
  } else if (std::string(c.loss) == "cross_entropy") {
    b.y_shape = {B};
  } else {
    b.y_shape = batch_shape(B, out);
    b.targets = test::random_floats(size_t(shape_numel(b.y_shape)), -1, 1, seed + 7, DType::F32);
    return b;
  }
  const int32_t classes = int32_t(out.back());
  for (int64_t i = 0; i < shape_numel(b.y_shape); ++i)
    b.labels.push_back(int32_t((i * 7 + s + 3 * m) % classes));
  return b;
}

// What a model run shares between steps: backend, optimizer, schedule, scaler, device batch.
struct Run {
  const Case& c;
  DType compute;
  std::unique_ptr<Backend> be;
  std::unique_ptr<Optimizer> opt;
  std::unique_ptr<LrSchedule> sched;
  std::unique_ptr<LossScaler> scaler;
  std::unique_ptr<Model> model;
  std::unique_ptr<Loss> loss;
  std::unique_ptr<TrainStep> step;
  DeviceBatch batch;

  Run(const Case& cs, DType dt, bool gpu)
      : c(cs), compute(dt), be(gpu ? make_cuda_backend(0) : make_cpu_backend(2)) {
    const OptimizerSpec os = test::adamw_spec();
    opt = make_optimizer(os, 5);
    sched = std::make_unique<LrSchedule>(ScheduleSpec{}, os.lr);
    LossScaleSpec ls;
    ls.value = 256.0;
    scaler = std::make_unique<LossScaler>(
        dt == DType::F32 ? LossScaleMode::None : LossScaleMode::Dynamic, ls);
    rebuild();
  }

  // New layers, loss and step (every temporary allocated afresh), the old parameters copied in.
  void rebuild() {
    ModelOptions mo;
    mo.compute = compute;
    mo.seed = 3;
    std::unique_ptr<Model> fresh = Model::build(*be, c.layers, c.sample, mo);
    if (model)
      for (size_t i = 0; i < model->params().size(); ++i) {
        Parameter &from = *model->params()[i], &to = *fresh->params()[i];
        be->copy(from.master, to.master);
        if (to.working.raw() != to.master.raw()) be->copy(from.working, to.working);
      }
    model = std::move(fresh);
    zero_grads(*be, model->trainable_params());
    loss = make_loss(c.loss, -100);
    // Clipping at norm 1, and step 4's gradients made non-finite: a skipped step (the scaler
    // backs off) must not allocate either.
    step.reset(new TrainStep{*be, *model, *loss, *opt, *sched, *scaler, 100, 1.0, {4}});
  }

  // One optimizer step of two micro-batches of B samples; returns its Backend::empty calls.
  int64_t train(int s, int64_t B, bool skip) {
    const int64_t before = be->allocations();
    const StepNormalisation norm = step_normalisation(2 * B * (c.vocab ? c.sample[0] : 1),
                                                      scaler->scale());
    for (int m = 0; m < 2; ++m) {
      upload_batch(*be, host_batch(c, model->output_shape(), B, s, m), batch);
      Context ctx{*be, true, 1, uint64_t(2 * s + m)};
      step->micro_batch(ctx, batch.x, batch.target, norm.grad_scale);
    }
    const StepOutcome o = step->finish(norm);
    CHECK(o.skipped == skip);
    return be->allocations() - before;
  }

  // Raw bits of every master and working tensor.
  std::vector<uint32_t> params() { return testing::snapshot(*be, model->params()); }
};

}  // namespace

namespace {

void check_steady_state(bool gpu) {
  for (const Case& c : cases()) {
    for (DType dt : {DType::F32, DType::BF16}) {
      const std::string name = c.name;
      CAPTURE(name);
      CAPTURE(dtype_name(dt));
      Run warm(c, dt, gpu), fresh(c, dt, gpu);
      // Steps 1-4 at B = 6, then an epoch's short last batch (B = 4), then B = 6 again.
      const std::vector<int64_t> sizes{6, 6, 6, 6, 4, 6};
      for (size_t s = 0; s < sizes.size(); ++s) {
        CAPTURE(s);
        const bool skip = s == 3;  // attempted step 4
        const int64_t allocs = warm.train(int(s), sizes[s], skip);
        if (s == 0) CHECK(allocs > 0);  // the first step allocates the step's tensors
        if (s == 2 || s == 3 || s == 5) CHECK(allocs == 0);
        fresh.rebuild();
        fresh.train(int(s), sizes[s], skip);
        CHECK(warm.params() == fresh.params());
      }
    }
  }
}

}  // namespace

TEST_CASE("train step: a steady-state step allocates nothing, and the reuse changes no bits") {
  check_steady_state(false);
}

// The same on the CUDA engine, whose hooks take their temporaries (im2col columns, staging of
// mixed dtypes, group norm partials, the flash backward's delta) from CudaBackend::workspace:
// skipped (reported so) without a CUDA device. Head size 32 runs the flash kernels.
TEST_CASE("train step: a steady-state step allocates nothing on the CUDA engine" *
          doctest::skip(cuda_device_count() == 0)) {
  check_steady_state(true);
}
