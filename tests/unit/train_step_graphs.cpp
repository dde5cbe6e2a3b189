// train_step_graphs.cpp: train.cuda_graph through TrainStep on the CPU engine (whose graph passes
// replay the recorded hooks, where CUDA launches captured graphs; the capture/verify logic is the
// same): training with graphs gives the bits of training without them, step by step (parameters
// and the step's loss sum); the first micro-batch at each position runs eagerly, the second
// captures, later ones replay; a new loss scale (after a skipped step) falls back once and is
// captured again; dropout, whose offset changes every micro-batch, switches graphs off after
// StepGraphs::kGiveUpAfter misses with the reason.
#include <doctest/doctest.h>

#include <cstring>

#include "nn/loss.h"
#include "nn/model.h"
#include "optim/lr_schedule.h"
#include "optim/optimizer.h"
#include "optim/optimizer_step.h"
#include "precision/loss_scaler.h"
#include "train/step_graphs.h"
#include "train/train_step.h"
#include "unit/backend_test_util.h"

using namespace mp;

namespace {

LayerSpec layer(const std::string& type, std::map<std::string, ParamValue> kv = {}) {
  LayerSpec s = default_layer_spec(type);
  for (auto& [k, v] : kv) s.params[k] = v;
  s.where = "test";
  return s;
}

struct Run {
  std::unique_ptr<Backend> be = make_cpu_backend(1);
  std::unique_ptr<Model> model;
  std::unique_ptr<Loss> loss;
  std::unique_ptr<Optimizer> opt;
  std::unique_ptr<LrSchedule> sched;
  std::unique_ptr<LossScaler> scaler;
  std::unique_ptr<StepGraphs> graphs;
  std::unique_ptr<TrainStep> step;
  Tensor x[2], y[2];  // fixed device batches, re-uploaded every step

  Run(bool use_graphs, float dropout, std::vector<int64_t> inject) {
    ModelOptions mo;
    mo.compute = DType::BF16;
    mo.master_fp32 = true;
    mo.seed = 3;
    std::vector<LayerSpec> layers{layer("linear", {{"out", int64_t(32)}}), layer("gelu"),
                                  layer("layernorm"), layer("linear", {{"out", int64_t(10)}})};
    if (dropout > 0) layers.insert(layers.begin() + 2, layer("dropout", {{"p", double(dropout)}}));
    model = Model::build(*be, layers, {12}, mo);
    loss = make_loss("cross_entropy", -100);
    OptimizerSpec os;
    os.type = "adamw";
    os.lr = 0.01;
    os.weight_decay = 0.01;
    opt = make_optimizer(os, 5);
    sched = std::make_unique<LrSchedule>(ScheduleSpec{}, os.lr);
    LossScaleSpec ls;
    ls.value = 1024.0;
    scaler = std::make_unique<LossScaler>(LossScaleMode::Dynamic, ls);
    step.reset(new TrainStep{*be, *model, *loss, *opt, *sched, *scaler, 100, 1.0, inject});
    if (use_graphs) {
      graphs = std::make_unique<StepGraphs>(*be);
      step->graphs = graphs.get();
    }
    zero_grads(*be, model->trainable_params());
    for (int m = 0; m < 2; ++m) {
      x[m] = be->empty({16, 12}, DType::F32);
      y[m] = be->empty({16}, DType::I32);
    }
  }

  StepOutcome train(int s) {
    const StepNormalisation norm = step_normalisation(32, scaler->scale());
    for (int m = 0; m < 2; ++m) {
      const std::vector<float> xv = test::random_floats(16 * 12, -1, 1, uint32_t(10 * s + m), DType::F32);
      std::vector<int32_t> yv(16);
      for (size_t i = 0; i < yv.size(); ++i) yv[i] = int32_t((i * 7 + size_t(s + m)) % 10);
      be->upload(xv.data(), x[m]);
      be->upload(yv.data(), y[m]);
      Context ctx{*be, true, 1, uint64_t(2 * s + m)};
      step->micro_batch(ctx, x[m], y[m], norm.grad_scale);
    }
    return step->finish(norm);
  }

  std::vector<float> params() {
    std::vector<float> all;
    for (Parameter* p : model->params()) {
      const std::vector<float> v = to_host_floats(*be, p->master);
      all.insert(all.end(), v.begin(), v.end());
    }
    return all;
  }
};

uint64_t bits(double d) {
  uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("step graphs: the bits of eager training; a new loss scale is captured again") {
  // Step 4 is poisoned: skipped, the scale halves, so step 5's loss gradient scale differs.
  Run eager(false, 0.0f, {4}), graphed(true, 0.0f, {4});
  for (int s = 1; s <= 8; ++s) {
    CAPTURE(s);
    const StepOutcome e = eager.train(s), g = graphed.train(s);
    CHECK(e.skipped == (s == 4));
    CHECK(g.skipped == e.skipped);
    CHECK(bits(g.loss_sum) == bits(e.loss_sum));
    CHECK(bits(g.grad_norm) == bits(e.grad_norm));
    CHECK(same_bits(graphed.params(), eager.params()));
  }
  const StepGraphs::Counts& c = graphed.graphs->counts();
  CHECK(c.eager == 2);       // step 1: both positions warm up
  CHECK(c.captured == 4);    // steps 2 and 6
  CHECK(c.fell_back == 2);   // step 5: the scale changed
  CHECK(c.replayed == 8);    // steps 3, 4, 7, 8
  CHECK(!graphed.graphs->off());
}

TEST_CASE("step graphs: dropout's changing offsets switch graphs off, with the reason") {
  Run eager(false, 0.25f, {}), graphed(true, 0.25f, {});
  for (int s = 1; s <= 8; ++s) {  // fallbacks at steps 3, 5, 7: off from step 7
    CAPTURE(s);
    const StepOutcome e = eager.train(s), g = graphed.train(s);
    CHECK(bits(g.loss_sum) == bits(e.loss_sum));
    CHECK(same_bits(graphed.params(), eager.params()));
  }
  const StepGraphs& sg = *graphed.graphs;
  CHECK(sg.off());
  CHECK_MESSAGE(sg.off_reason().find("(dropout_forward) has a different argument 4") !=
                    std::string::npos,
                sg.off_reason());
  CHECK(sg.counts().replayed == 0);
}
