#include "train/step_normalisation.h"

namespace mp {

double StepNormalisation::mean_loss(double loss_sum) const {
  return empty() ? 0.0 : loss_sum / static_cast<double>(count);
}

StepNormalisation step_normalisation(const Loss& loss, const std::vector<Batch>& micro_batches,
                                     double loss_scale, dist::Communicator* comm) {
  int64_t count = 0;
  for (const Batch& b : micro_batches) {
    // The loss kernels do not mask rows: sharding's padding must be gone (drop_padding_rows).
    MP_CHECK(b.num_real == b.size, "step_normalisation: a batch still holds sharding padding rows");
    count += loss.counted_rows(b.labels, b.size);
  }
  if (comm && comm->world_size() > 1)  // exact: fp64 sums of counts below 2^53
    count = static_cast<int64_t>(comm->sum_host({static_cast<double>(count)})[0]);
  return step_normalisation(count, loss_scale);
}

StepNormalisation step_normalisation(int64_t count, double loss_scale) {
  StepNormalisation n;
  n.count = count;
  // S / N in fp64, rounded once: with N = batch x accum this is the old S / global batch, bit for bit.
  n.grad_scale = n.empty() ? 0.0f : static_cast<float>(loss_scale / static_cast<double>(n.count));
  return n;
}

StepOutcome step_without_update(Backend& be, const ParamList& params, const Optimizer& opt,
                                const LrSchedule& schedule, int64_t total_steps,
                                LossScaler& scaler) {
  // Ignored rows have zero loss gradients, but a non-finite input could still leave 0 * inf in a
  // weight gradient: start the next step from clean zeros.
  zero_grads(be, params);
  scaler.record_no_update_step();
  StepOutcome out;
  out.skipped = true;
  out.lr = schedule.lr(opt.applied_steps(), total_steps);
  out.loss_scale = out.new_loss_scale = scaler.scale();
  out.applied_steps = opt.applied_steps();
  out.skipped_steps = scaler.total_skips();
  out.attempted_step = out.applied_steps + out.skipped_steps;
  return out;
}

}  // namespace mp
