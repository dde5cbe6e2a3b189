// step_normalisation.h: the denominator of a training step's mean loss, in one place.
// A step's loss and gradient are PyTorch's mean reduction over one big batch made of all the
// step's micro-batches: sum of the per-sample losses / N, where N counts the samples the step
// actually saw whose target counts (Loss::counted_rows: cross_entropy leaves ignore_index rows
// out; a short last batch with data.drop_last: false adds only its real samples). The trainer
// takes all micro-batches of a step from the loader before the first backward, so every
// micro-batch's loss gradient can start from S / N (S = loss scale).
// A step with N = 0 (every label ignored) has nothing to learn from: loss 0, no optimizer update
// (weights, optimizer moments, LR schedule and loss scale stay; step_without_update). It counts
// as one of train.steps and as a skipped step (metrics.csv skipped = 1, summary skipped_steps,
// the checkpoint's step = applied + skipped), but not as an overflow for the scaler.
// Data parallel: N is summed over ranks in step_normalisation(), the one place that counts, so
// every rank scales by S / (global N) and the all-reduced gradient is the global batch's mean.
// The trainer removes sharding's wrap-around padding rows from the batches first
// (drop_padding_rows), so N and the loss count only real samples.
#pragma once
#include <cstdint>
#include <vector>

#include "data/batch.h"
#include "dist/communicator.h"
#include "nn/loss.h"
#include "optim/optimizer_step.h"

namespace mp {

struct StepNormalisation {
  int64_t count = 0;       // N: counted samples of the step
  float grad_scale = 0.0f; // S / N for each micro-batch's loss gradient; 0 when N = 0
  bool empty() const { return count == 0; }
  // The step's reported loss from the sum of its micro-batches' summed losses: sum / N (0 if N = 0).
  double mean_loss(double loss_sum) const;
};

// `comm`: the data-parallel job whose ranks' counts are summed (null: this process only).
StepNormalisation step_normalisation(const Loss& loss, const std::vector<Batch>& micro_batches,
                                     double loss_scale, dist::Communicator* comm = nullptr);
// The same for a step whose N is known (bench_train_mlp: one batch of labels that all count).
StepNormalisation step_normalisation(int64_t count, double loss_scale);

// The outcome of a step with nothing to learn from (N = 0): no update, grads zeroed for the next
// step, the LR schedule and the scale untouched; counted as skipped (record_no_update_step).
StepOutcome step_without_update(Backend& be, const ParamList& params, const Optimizer& opt,
                                const LrSchedule& schedule, int64_t total_steps,
                                LossScaler& scaler);

}  // namespace mp
