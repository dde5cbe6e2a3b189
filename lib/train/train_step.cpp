#include "train/train_step.h"

namespace mp {

double TrainStep::micro_batch(Context& ctx, const Tensor& x, const Tensor& target, float grad_scale,
                              TelemetryProbe* probe, Loss* shadow) {
  ctx.probe = probe;
  const Tensor& out = model.forward(ctx, x);
  const double loss_sum = loss.compute(be, out, target, grad_scale, true);
  if (probe) {
    MP_CHECK(shadow != nullptr, "TrainStep::micro_batch: a telemetry probe needs a shadow loss");
    probe->observe_loss_grad(*shadow, out, target, grad_scale, loss.grad());
  }
  model.backward(ctx, loss.grad());
  return loss_sum;
}

StepOutcome TrainStep::finish(const StepNormalisation& norm) {
  if (norm.empty())
    return step_without_update(be, model.trainable_params(), optim, schedule, total_steps, scaler);
  // Frozen parameters have no gradient: not reduced, not in the norm, no update, no state.
  const ParamList params = model.trainable_params();
  if (zero)
    return zero->step(params, optim, schedule, total_steps, scaler, grad_clip_norm,
                      reduce_found_inf ? reduce_found_inf : found_inf_local,
                      inject_nonfinite_grad_steps);
  if (grad_reduce) grad_reduce->run();
  return optimizer_step(be, params, optim, schedule, total_steps, scaler, grad_clip_norm,
                        reduce_found_inf ? reduce_found_inf : found_inf_local,
                        inject_nonfinite_grad_steps);
}

}  // namespace mp
