// bench_run.h: one policy's training setup for the benchmarks, built from a RunSpec exactly as the
// trainer builds it (resolved DTypePolicy, Model::build, loss, optimizer with the policy's
// stochastic rounding, schedule, loss scaler, TrainStep), with one full step as the trainer runs it
// on a batch that stays on the device (so data loading is not measured).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "config/run_spec.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "optim/lr_schedule.h"
#include "optim/optimizer.h"
#include "optim/optimizer_step.h"
#include "precision/dtype_policy.h"
#include "precision/loss_scaler.h"
#include "train/step_normalisation.h"
#include "train/train_step.h"

namespace mp::bench {

constexpr int64_t kScheduleSteps = 1000000;  // the LR schedule's length: far beyond any bench run

struct TrainRun {
  std::string policy;
  RunSpec spec;
  std::unique_ptr<Backend> be;
  std::unique_ptr<Model> model;
  std::unique_ptr<Loss> loss;
  std::unique_ptr<Optimizer> opt;
  std::unique_ptr<LrSchedule> sched;
  std::unique_ptr<LossScaler> scaler;
  std::unique_ptr<TrainStep> step_fn;  // the trainer's step (train/train_step.h)
  DType compute = DType::F32;          // the policy's compute dtype
  uint64_t micro = 0;
  int64_t steps = 0;

  // `spec.precision.policy` must be resolved (not "auto"): see resolve_auto_policy.
  void build(RunSpec s, std::unique_ptr<Backend> backend) {
    spec = std::move(s);
    be = std::move(backend);
    const DTypePolicy pol = resolve_dtype_policy(spec.precision);
    policy = spec.precision.policy;
    compute = pol.compute;
    model = Model::build(*be, spec.model.layers, spec.model.input_shape,
                         model_options(pol, static_cast<uint64_t>(spec.seed)));
    loss = make_loss(spec.model.loss, spec.model.ignore_index);
    opt = make_optimizer(spec.optimizer, static_cast<uint64_t>(spec.seed));
    opt->set_stochastic_rounding(pol.stochastic_rounding);
    sched = std::make_unique<LrSchedule>(spec.schedule, spec.optimizer.lr);
    scaler = std::make_unique<LossScaler>(LossScaler::from_policy(pol, spec.precision.loss_scale));
    step_fn.reset(new TrainStep{*be, *model, *loss, *opt, *sched, *scaler, kScheduleSteps,
                                spec.optimizer.grad_clip_norm, {}});
    zero_grads(*be, model->trainable_params());
  }

  // One full step as the trainer runs it, with `count` samples (or tokens) entering the loss.
  void train_step(const Tensor& in, const Tensor& target, int64_t count) {
    Context ctx{*be, true, static_cast<uint64_t>(spec.seed), micro++};
    const StepNormalisation norm = step_normalisation(count, scaler->scale());
    step_fn->micro_batch(ctx, in, target, norm.grad_scale);
    step_fn->finish(norm);
    ++steps;
  }
};

}  // namespace mp::bench
