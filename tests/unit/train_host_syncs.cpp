// train_host_syncs.cpp: issue 12 on the CPU engine (the trainer's logic is engine-agnostic, and
// Backend counts host reads in its front door, so this count is the CUDA engine's too): a
// steady-state training step with gradient accumulation 2 reads the device back exactly once
// (TrainStep::finish: the step stats with the gradient check), for SGD and AdamW, fp32 and mixed
// bf16 with a loss scale; the step's loss sum read that way has the bits of the per-micro-batch
// host sums it replaces, and the parameters those of the per-parameter update path; a bad label is
// raised from that read, before any update, with softmax_xent's DataError. A token model
// (embedding -> layernorm -> linear, cross-entropy per token) reads once too: its embedding ops
// defer the bad-id check into the step stats, and a bad id is raised from the step's read,
// before any update, with the embedding's DataError (layer, sample, position). Excluded from the
// count: telemetry steps (precision.telemetry_every: the probe reads its statistics) and
// evaluation, which read more; an N = 0 step reads once (no update). dist.zero: 1 reads once too
// (after its reduce-scatter, with the shard's gradient check), checked here on one process; a
// data-parallel step reads more for its host collectives (found_inf, the norm, the logged loss).
#include <doctest/doctest.h>

#include <cstring>

#include "dist/communicator.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "optim/lr_schedule.h"
#include "optim/optimizer.h"
#include "optim/optimizer_step.h"
#include "precision/loss_scaler.h"
#include "train/train_step.h"
#include "unit/backend_test_util.h"
#include "unit/train_step_run.h"

using namespace mp;
using test::bits;
using test::layer;

namespace {

struct Run {
  std::unique_ptr<Backend> be = make_cpu_backend(2);
  std::unique_ptr<Model> model;
  std::unique_ptr<Loss> loss;
  std::unique_ptr<Optimizer> opt;
  std::unique_ptr<LrSchedule> sched;
  std::unique_ptr<LossScaler> scaler;
  std::unique_ptr<TrainStep> step;
  // dist.zero: 1 on one process (use_zero): the sharded step's objects.
  std::unique_ptr<dist::Communicator> comm;
  std::unique_ptr<GradAllReduce> reduce;
  std::unique_ptr<ZeroOptimizer> zero;
  Tensor x[2], y[2];

  bool tokens = false;  // the token model: x [4, 6] ids in [0, 10), y [4, 6] labels

  Run(const std::string& optimizer, DType compute, LossScaleMode mode, bool token_model = false)
      : tokens(token_model) {
    ModelOptions mo;
    mo.compute = compute;
    mo.master_fp32 = true;
    mo.seed = 3;
    if (tokens)
      model = Model::build(*be,
                           {layer("embedding", {{"vocab", int64_t(10)}, {"dim", int64_t(16)}}),
                            layer("layernorm"), layer("linear", {{"out", int64_t(10)}})},
                           {6}, mo);
    else
      model = Model::build(*be,
                           {layer("linear", {{"out", int64_t(32)}}), layer("relu"),
                            layer("linear", {{"out", int64_t(10)}})},
                           {12}, mo);
    loss = make_loss("cross_entropy", -100);
    OptimizerSpec os;
    os.type = optimizer;
    os.lr = 0.01;
    os.momentum = optimizer == "sgd" ? 0.9 : 0.0;
    os.weight_decay = 0.01;
    opt = make_optimizer(os, 5);
    sched = std::make_unique<LrSchedule>(ScheduleSpec{}, os.lr);
    LossScaleSpec ls;
    ls.value = 256.0;
    scaler = std::make_unique<LossScaler>(mode, ls);
    step.reset(new TrainStep{*be, *model, *loss, *opt, *sched, *scaler, 100, 1.0, {}});
    zero_grads(*be, model->trainable_params());
  }

  void use_zero() {
    comm = dist::make_single_communicator(*be);
    reduce = std::make_unique<GradAllReduce>(*be, *comm, model->trainable_params(), DType::F32);
    zero = std::make_unique<ZeroOptimizer>(*be, *reduce, model->trainable_params());
    step->grad_reduce = reduce.get();
    step->zero = zero.get();
  }

  // bad_token: the id written at sample 2, position 3 of micro-batch bad_micro (token model).
  void set_batches(uint32_t seed, int bad_micro = -1, float bad_token = 0.0f) {
    if (tokens) return set_token_batches(seed, bad_micro, bad_token);
    for (int m = 0; m < 2; ++m) {
      const std::vector<float> xv = test::random_floats(16 * 12, -1, 1, seed + m, DType::F32);
      std::vector<int32_t> yv(16);
      for (size_t i = 0; i < yv.size(); ++i) yv[i] = int32_t((i * 7 + seed + m) % 10);
      if (m == bad_micro) yv[5] = 10;  // C = 10 outputs: class 10 is out of range
      x[m] = test::make(*be, xv, {16, 12}, DType::F32);
      y[m] = be->empty({16}, DType::I32);
      be->upload(yv.data(), y[m]);
    }
  }

  void set_token_batches(uint32_t seed, int bad_micro, float bad_token) {
    for (int m = 0; m < 2; ++m) {
      std::vector<float> xv(24);
      std::vector<int32_t> yv(24);
      for (size_t i = 0; i < xv.size(); ++i) {
        xv[i] = float((i * 3 + seed + m) % 10);
        yv[i] = int32_t((i * 7 + seed + m) % 10);
      }
      if (m == bad_micro) xv[2 * 6 + 3] = bad_token;
      x[m] = test::make(*be, xv, {4, 6}, DType::F32);
      y[m] = be->empty({4, 6}, DType::I32);
      be->upload(yv.data(), y[m]);
    }
  }

  std::vector<float> params() { return test::master_values(*be, *model); }
};

}  // namespace

TEST_CASE("train step: one host read per optimizer step with accumulation 2 (steady state)") {
  struct Cfg {
    const char* opt;
    DType compute;
    LossScaleMode mode;
    bool tokens;
  };
  for (const Cfg c : {Cfg{"adamw", DType::F32, LossScaleMode::None, false},
                      Cfg{"sgd", DType::F32, LossScaleMode::None, false},
                      Cfg{"adamw", DType::BF16, LossScaleMode::Dynamic, false},
                      Cfg{"adamw", DType::F32, LossScaleMode::None, true},
                      Cfg{"adamw", DType::BF16, LossScaleMode::Dynamic, true}}) {
    CAPTURE(c.opt);
    CAPTURE(dtype_name(c.compute));
    CAPTURE(c.tokens);
    // `fast`: TrainStep (one read per step); `ref`: the same steps the way they ran before issue
    // 12, a host sum of each micro-batch's loss (Loss::compute), reading back as it goes (and,
    // for the token model, the raising embedding ops).
    Run fast(c.opt, c.compute, c.mode, c.tokens), ref(c.opt, c.compute, c.mode, c.tokens);
    for (int s = 0; s < 4; ++s) {
      CAPTURE(s);
      fast.set_batches(uint32_t(10 * s));
      ref.set_batches(uint32_t(10 * s));
      const StepNormalisation norm = step_normalisation(c.tokens ? 48 : 32, fast.scaler->scale());
      const int64_t before = fast.be->host_reads();
      for (int m = 0; m < 2; ++m) {
        Context ctx{*fast.be, true, 1, uint64_t(2 * s + m)};
        fast.step->micro_batch(ctx, fast.x[m], fast.y[m], norm.grad_scale);
      }
      const StepOutcome o = fast.step->finish(norm);
      CHECK(fast.be->host_reads() - before == 1);
      CHECK(!o.skipped);

      double ref_sum = 0.0;
      for (int m = 0; m < 2; ++m) {
        Context ctx{*ref.be, true, 1, uint64_t(2 * s + m)};
        const Tensor& out = ref.model->forward(ctx, ref.x[m]);
        ref_sum += ref.loss->compute(*ref.be, out, ref.y[m], norm.grad_scale, true);
        ref.model->backward(ctx, ref.loss->grad());
      }
      const StepOutcome r = optimizer_step(*ref.be, ref.model->trainable_params(), *ref.opt,
                                           *ref.sched, 100, *ref.scaler, 1.0, found_inf_local, {});
      CHECK(ref_sum > 0.0);
      CHECK(bits(o.loss_sum) == bits(ref_sum));
      CHECK(bits(o.grad_norm) == bits(r.grad_norm));
      CHECK(fast.params() == ref.params());
    }
  }
}

TEST_CASE("train step: a bad label is raised from the step's read-back, before any update") {
  Run run("adamw", DType::F32, LossScaleMode::None);
  run.set_batches(3, 1);  // the second micro-batch has class 10 at row 5
  const std::vector<float> before = run.params();
  const StepNormalisation norm = step_normalisation(32, 1.0);
  for (int m = 0; m < 2; ++m) {  // nothing raised here: the check waits for the step's read
    Context ctx{*run.be, true, 1, uint64_t(m)};
    run.step->micro_batch(ctx, run.x[m], run.y[m], norm.grad_scale);
  }
  const int64_t reads = run.be->host_reads();
  try {
    run.step->finish(norm);
    FAIL("no error");
  } catch (const DataError& e) {
    const std::string msg = e.what();
    CHECK_MESSAGE(msg.find("labels: row 5 of the batch has class 10, expected an integer in "
                           "[0, 10)") != std::string::npos,
                  msg);
  }
  CHECK(run.be->host_reads() - reads == 1);
  CHECK(run.params() == before);  // no update
  CHECK(run.opt->applied_steps() == 0);
}

TEST_CASE("train step: a bad token id is raised from the step's read-back, before any update") {
  for (float bad : {10.0f, -1.0f, 2.5f}) {
    CAPTURE(bad);
    Run run("adamw", DType::F32, LossScaleMode::None, true);
    run.set_batches(3, 1, bad);  // micro-batch 1, sample 2, position 3
    const std::vector<float> before = run.params();
    const StepNormalisation norm = step_normalisation(48, 1.0);
    const int64_t reads = run.be->host_reads();
    for (int m = 0; m < 2; ++m) {  // nothing raised here: the check waits for the step's read
      Context ctx{*run.be, true, 1, uint64_t(m)};
      run.step->micro_batch(ctx, run.x[m], run.y[m], norm.grad_scale);
    }
    CHECK(run.be->host_reads() == reads);
    std::string msg;
    try {
      run.step->finish(norm);
    } catch (const DataError& e) {
      msg = e.what();
    }
    // The raising op's text (the eval path's, and the trainer's before issue 12) for these ids.
    std::string want;
    try {
      Context ctx{*run.be, false, 1, 0};
      run.model->forward(ctx, run.x[1]);
    } catch (const DataError& e) {
      want = e.what();
    }
    CHECK_MESSAGE(msg.find("at sample 2, position 3 of the batch is not an integer in [0, 10)") !=
                      std::string::npos,
                  msg);
    CHECK_MESSAGE(msg.find("test: layer layers.0 (embedding, vocab 10): token id") == 0, msg);
    CHECK(msg == want);
    CHECK(run.params() == before);  // no update
    CHECK(run.opt->applied_steps() == 0);
  }
}

TEST_CASE("train step: dist.zero 1 (one process) reads once per step, with zero 0's bits") {
  Run sharded("adamw", DType::BF16, LossScaleMode::Dynamic), plain("adamw", DType::BF16,
                                                                   LossScaleMode::Dynamic);
  sharded.use_zero();
  for (int s = 0; s < 4; ++s) {
    CAPTURE(s);
    const StepNormalisation norm = step_normalisation(32, sharded.scaler->scale());
    StepOutcome o[2];
    int i = 0;
    for (Run* r : {&sharded, &plain}) {
      r->set_batches(uint32_t(10 * s));
      const int64_t before = r->be->host_reads();
      for (int m = 0; m < 2; ++m) {
        Context ctx{*r->be, true, 1, uint64_t(2 * s + m)};
        r->step->micro_batch(ctx, r->x[m], r->y[m], norm.grad_scale);
      }
      o[i++] = r->step->finish(norm);
      CHECK(r->be->host_reads() - before == 1);
    }
    CHECK(bits(o[0].loss_sum) == bits(o[1].loss_sum));
    CHECK(bits(o[0].grad_norm) == bits(o[1].grad_norm));
    CHECK(sharded.params() == plain.params());
  }
}

TEST_CASE("train step: dist.zero 1 raises a bad label from its one read, before any update") {
  Run run("adamw", DType::F32, LossScaleMode::None);
  run.use_zero();
  run.set_batches(3, 0);
  const std::vector<float> before = run.params();
  const StepNormalisation norm = step_normalisation(32, 1.0);
  for (int m = 0; m < 2; ++m) {
    Context ctx{*run.be, true, 1, uint64_t(m)};
    run.step->micro_batch(ctx, run.x[m], run.y[m], norm.grad_scale);
  }
  const int64_t reads = run.be->host_reads();
  CHECK_THROWS_WITH_AS(run.step->finish(norm),
                       doctest::Contains("labels: row 5 of the batch has class 10"), DataError);
  CHECK(run.be->host_reads() - reads == 1);
  CHECK(run.params() == before);
  CHECK(run.opt->applied_steps() == 0);
}
