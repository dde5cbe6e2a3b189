// optimizer_step.cpp: unscale -> found_inf -> skip or (clip -> update -> cast) -> scaler -> zero.
#include "optim/optimizer_step.h"

#include <algorithm>
#include <cmath>
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
                           const std::vector<int64_t>& inject_nonfinite_steps,
                           const std::function<double(double)>& reduce_sum_squares,
                           Tensor* stats, const std::function<void(const StepStats&)>& on_read) {
  StepOutcome out;
  out.attempted_step = opt.applied_steps() + scaler.total_skips() + 1;
  out.loss_scale = scaler.scale();
  if (std::find(inject_nonfinite_steps.begin(), inject_nonfinite_steps.end(),
                out.attempted_step) != inject_nonfinite_steps.end())
    poison_one_gradient(be, params);

  // One read-only pass over every gradient (Backend::check_grads, on the device): finiteness of
  // the unscaled values (what the update would use: with S < 1 a finite gradient can unscale to
  // inf), of the stored ones (the cause, for the scaler), and the sum of squares of the unscaled
  // values (the bits unscale_and_check + sum_squares would give; exact fp64 squares summed in
  // fp64, combined in fp64 in parameter order as global_grad_norm does, so it cannot overflow for
  // finite gradients). Then the step's one read-back. The unscale, clip, update, recast and
  // zeroing then happen in one multi-tensor pass inside the optimizer.
  GradPrep prep;
  prep.inv_scale = static_cast<float>(scaler.inv_scale());
  Tensor own;
  if (!stats) {
    own = be.make_step_stats();
    stats = &own;
  }
  std::vector<const Tensor*> grads;
  grads.reserve(params.size());
  for (Parameter* p : params) grads.push_back(&p->grad);
  be.check_grads(grads, prep.inv_scale, *stats);
  const StepStats read = be.read_step_stats(*stats);
  if (on_read) on_read(read);
  out.loss_sum = read.loss_sum;
  bool found_inf = read.nonfinite, scaled_inf = read.scaled_nonfinite;
  double sum_squares = read.sum_squares;
  // A non-finite total cannot come from finite gradients (it would take > 1e231 elements of
  // FLT_MAX); checked anyway, so no update ever sees a non-finite norm. A finite norm above
  // FLT_MAX (many elements near FLT_MAX) is kept in fp64 and the step applies: every unscaled
  // element is finite, the norm is reported in fp64, and clipping multiplies by the fp32 factor
  // max_norm / (norm + 1e-6).
  found_inf = found_inf || !std::isfinite(sum_squares);
  const auto reduce = [&](bool local) {
    return reduce_found_inf ? reduce_found_inf(local) : local;
  };
  found_inf = reduce(found_inf);
  // Every rank agrees on found_inf, so all take part in the second reduction or none does.
  const StepOverflow overflow = !found_inf         ? StepOverflow::None
                                : reduce(scaled_inf) ? StepOverflow::Scaled
                                                     : StepOverflow::Unscaled;

  out.lr = schedule.lr(opt.applied_steps(), total_steps);
  if (found_inf) {
    out.skipped = true;
    out.grad_norm = std::numeric_limits<double>::quiet_NaN();
    zero_grads(be, params);
  } else {
    if (reduce_sum_squares) sum_squares = reduce_sum_squares(sum_squares);
    out.grad_norm = std::sqrt(sum_squares);
    prep.clip = clip_coefficient(out.grad_norm, clip_norm, prep.clip_coef);
    prep.zero_grad = true;
    opt.step(be, params, out.lr, prep);
  }
  scaler.update(overflow);

  out.new_loss_scale = scaler.scale();
  out.applied_steps = opt.applied_steps();
  out.skipped_steps = scaler.total_skips();
  return out;
}

}  // namespace mp
