// train_step.h: one training step, as the trainer and bench_train_mlp both run it: for each
// micro-batch forward, loss with gradient scale S / N (step_normalisation.h) and backward into the
// fp32 parameter gradients; then the optimizer step (optimizer_step: unscale, skip or clip +
// update + recast, scaler update), or step_without_update when N = 0. Data parallel: the
// gradients are all-reduced first (grad_allreduce.h).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "nn/layer.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "optim/lr_schedule.h"
#include "optim/optimizer.h"
#include "optim/optimizer_step.h"
#include "precision/loss_scaler.h"
#include "precision/telemetry.h"
#include "train/grad_allreduce.h"
#include "train/step_graphs.h"
#include "train/step_normalisation.h"
#include "train/zero_optimizer.h"

namespace mp {

struct TrainStep {
  Backend& be;
  Model& model;
  Loss& loss;
  Optimizer& optim;
  const LrSchedule& schedule;
  LossScaler& scaler;
  int64_t total_steps = 0;      // the LR schedule's length
  double grad_clip_norm = 0.0;  // optimizer.grad_clip_norm; 0 = no clipping
  std::vector<int64_t> inject_nonfinite_grad_steps;  // debug.inject_nonfinite_grad_steps
  // Data parallel (the trainer with world_size > 1): the gradient all-reduce run before the
  // optimizer step, and found_inf reduced over ranks (MAX, Communicator::any) so every rank
  // skips together. Null / empty: one process.
  GradAllReduce* grad_reduce = nullptr;
  std::function<bool(bool)> reduce_found_inf = nullptr;
  // dist.zero: 1: the sharded step (reduce-scatter, update of this rank's shard, all-gather)
  // replaces the all-reduce and optimizer_step.
  ZeroOptimizer* zero = nullptr;
  // The step's device-resident results (Backend::make_step_stats, made on first use): the
  // micro-batches' loss sum and bad-label flag, then the gradient check, read back once per step.
  Tensor stats = Tensor();
  // train.cuda_graph: each micro-batch's forward, loss and backward run as a graph pass over its
  // position's graph (step_graphs.h); telemetry micro-batches run eagerly (the probe reads back).
  StepGraphs* graphs = nullptr;
  Tensor rng_base = Tensor();  // with graphs: the dropout stream position (Context::rng_base)
  int64_t micro_pos = 0;  // this step's micro-batches so far (reset by finish)

  // One micro-batch: forward of `x` (with ctx.probe = probe), loss against `target` with its
  // gradient pre-multiplied by `grad_scale` (StepNormalisation::grad_scale), backward (adds into
  // the fp32 gradients). The micro-batch's summed per-sample loss is added into `stats` on the
  // device (Loss::compute_into): nothing is read back. With a telemetry probe, `shadow` (a second
  // loss of the same type) recomputes the loss gradient in fp32 for it (reads back: telemetry
  // steps read more).
  void micro_batch(Context& ctx, const Tensor& x, const Tensor& target, float grad_scale,
                   TelemetryProbe* probe = nullptr, Loss* shadow = nullptr);

  // After the step's last micro-batch: the optimizer step, or for N = 0 step_without_update.
  // Exactly one device -> host read (Backend::host_reads) on the single-process path: the step
  // stats with the gradient check (optimizer_step); a bad label deferred by the loss is raised
  // from it before any update. The outcome's loss_sum is the step's summed loss (this rank's).
  // N = 0 steps read the stats on their own (one read, no update); dist.zero: 1 reads them once
  // too, inside its sharded optimizer_step (after the reduce-scatter), and raises from there.
  StepOutcome finish(const StepNormalisation& norm);
};

}  // namespace mp
