// train_step.cpp: a training step's micro-batches and its finish, with one device -> host read
// per step (issue 12): the losses stay on the device until the optimizer step reads them back
// together with the gradient check.
#include "train/train_step.h"

namespace mp {

void TrainStep::micro_batch(Context& ctx, const Tensor& x, const Tensor& target, float grad_scale,
                            TelemetryProbe* probe, Loss* shadow) {
  if (!stats.defined()) stats = be.make_step_stats();
  ctx.probe = probe;
  struct Restore {  // the caller's context fields, also when the micro-batch throws
    Context& c;
    Tensor* stats;
    const Tensor* rng;
    ~Restore() {
      c.stats = stats;
      c.rng_base = rng;
    }
  } restore{ctx, ctx.stats, ctx.rng_base};
  ctx.stats = &stats;  // layers defer their data errors (a bad token id) into the step stats
  const auto body = [&] {
    const Tensor& out = model.forward(ctx, x);
    loss.compute_into(be, out, target, grad_scale, stats);
    if (probe) {
      MP_CHECK(shadow != nullptr, "TrainStep::micro_batch: a telemetry probe needs a shadow loss");
      probe->observe_loss_grad(*shadow, out, target, grad_scale, loss.grad());
    }
    model.backward(ctx, loss.grad());
  };
  const int64_t pos = micro_pos++;
  const bool graphed = graphs && !probe;
  if (graphed) {
    // Dropout's stream position as a device value, uploaded here, outside the pass: the ops keep
    // their arguments, so a graph replays with this micro-batch's masks.
    if (!rng_base.defined()) rng_base = be.empty({1}, DType::I64);
    const auto v = static_cast<int64_t>(ctx.rng_offset << 16);
    be.upload(&v, rng_base);
    ctx.rng_base = &rng_base;
  }
  if (graphed)
    graphs->run(pos, body);
  else
    body();
}

StepOutcome TrainStep::finish(const StepNormalisation& norm) {
  if (!stats.defined()) stats = be.make_step_stats();
  // Frozen parameters have no gradient: not reduced, not in the norm, no update, no state.
  const ParamList params = model.trainable_params();
  // Deferred data errors in the order the raising ops would have thrown them: the model's (a bad
  // token id) before the loss's (a bad label).
  const auto raise = [&](const StepStats& s) {
    model.raise_deferred(s);
    loss.raise_deferred(s);
  };
  StepOutcome out;
  const auto found_inf = reduce_found_inf ? reduce_found_inf : found_inf_local;
  if (norm.empty()) {
    // No optimizer_step read: read the loss (and raise a deferred data error) here, no update.
    const StepStats s = be.read_step_stats(stats);
    raise(s);
    out = step_without_update(be, params, optim, schedule, total_steps, scaler);
    out.loss_sum = s.loss_sum;
  } else if (zero) {
    // The sharded step reads the stats once, after the reduce-scatter, with the shard's check.
    out = zero->step(params, optim, schedule, total_steps, scaler, grad_clip_norm, found_inf,
                     inject_nonfinite_grad_steps, &stats, raise);
  } else {
    if (grad_reduce) grad_reduce->run();
    out = optimizer_step(be, params, optim, schedule, total_steps, scaler, grad_clip_norm,
                         found_inf, inject_nonfinite_grad_steps, nullptr, &stats, raise);
  }
  be.clear_step_stats(stats);
  micro_pos = 0;
  return out;
}

}  // namespace mp
