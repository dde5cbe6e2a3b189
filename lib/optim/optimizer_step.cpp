// optimizer_step.cpp: unscale -> found_inf -> skip or (clip -> update -> cast) -> scaler -> zero.
#include "optim/optimizer_step.h"

#include <algorithm>
#include <limits>

#include "optim/grad_clip.h"

namespace mp {

namespace {

void poison_one_gradient(Backend& be, const ParamList& params) {
  for (Parameter* p : params) {
    if (p->grad.numel() == 0) continue;
    Tensor first = p->grad.reshape({p->grad.numel()}).slice_rows(0, 1);
    be.fill(first, std::numeric_limits<float>::infinity());
    return;
  }
}

}  // namespace

bool found_inf_local(bool found_inf) { return found_inf; }

void zero_grads(Backend& be, const ParamList& params) {
  for (Parameter* p : params) be.fill(p->grad, 0.0f);
}

StepOutcome optimizer_step(Backend& be, const ParamList& params, Optimizer& opt,
                           const LrSchedule& schedule, int64_t total_steps, LossScaler& scaler,
                           double clip_norm, const std::function<bool(bool)>& reduce_found_inf,
                           const std::vector<int64_t>& inject_nonfinite_steps) {
  StepOutcome out;
  out.attempted_step = opt.applied_steps() + scaler.total_skips() + 1;
  out.loss_scale = scaler.scale();
  if (std::find(inject_nonfinite_steps.begin(), inject_nonfinite_steps.end(),
                out.attempted_step) != inject_nonfinite_steps.end())
    poison_one_gradient(be, params);

  const float inv_scale = static_cast<float>(scaler.inv_scale());
  bool found_inf = false;
  for (Parameter* p : params) found_inf = be.unscale_and_check(p->grad, inv_scale) || found_inf;
  found_inf = reduce_found_inf ? reduce_found_inf(found_inf) : found_inf;

  out.lr = schedule.lr(opt.applied_steps(), total_steps);
  if (found_inf) {
    out.skipped = true;
    out.grad_norm = std::numeric_limits<double>::quiet_NaN();
  } else {
    out.grad_norm = clip_grad_norm(be, params, clip_norm);
    opt.step(be, params, out.lr);
  }
  scaler.update(found_inf);
  zero_grads(be, params);

  out.new_loss_scale = scaler.scale();
  out.applied_steps = opt.applied_steps();
  out.skipped_steps = scaler.total_skips();
  return out;
}

}  // namespace mp
