// optimizer_step.h: everything that happens after the last micro-batch of a step (and after the
// trainer's gradient all-reduce), in the order of docs/ARCHITECTURE.md "The optimizer step":
//   (debug) poison one gradient element with +inf at the listed attempted steps
//   -> unscale every fp32 grad by 1/S (fp64 reciprocal) while checking that the UNSCALED values
//      are finite (with S < 1 a finite gradient can unscale to inf) and summing their squares in
//      fp64 (finite for finite gradients; a non-finite total also counts as found_inf)
//   -> found_inf reduced over ranks (MAX)
//   -> non-finite: skip (no update, LR schedule not advanced, counted by the scaler) and zero
//                  the grads for the next accumulation
//      finite: clip by the global norm of the unscaled grads -> optimizer update of the masters
//              with the scheduled lr -> master -> working cast -> zero the grads, all in one
//              fused pass per parameter
//   -> scaler.update(overflow) (may throw NumericalError after too many skips in a row). The
//      overflow is Scaled when some gradient was already non-finite as the backward left it (the
//      dynamic scaler backs off), Unscaled when only unscaling or the norm overflowed (S is kept:
//      a smaller S could not help; loss_scaler.h).
// reduce_found_inf (a MAX over ranks) is called once for "some unscaled gradient or the norm is
// non-finite" and, only when that is true, once more for "some scaled gradient is non-finite".
// reduce_sum_squares (sharded optimizer state, train/zero_optimizer.h: each rank holds part of the
// gradients) turns the local sum of squares into the global one, the same value on every rank;
// it is called only when found_inf is false (every rank agrees on that).
// The reported norm is fp64 and may exceed FLT_MAX when many elements are near it; the step then
// still applies (every element is finite) and clipping scales by max_norm / (norm + 1e-6).
// Host reads (issue 12): the gradients are checked by one Backend::check_grads into `stats` (the
// caller's step-stats tensor, which may already hold the step's loss sum and bad-label flag from
// its micro-batches; a fresh one when null), then read back ONCE (read_step_stats) before any
// decision; `on_read` sees those values first (the trainer raises a deferred bad label there,
// before the update) and out.loss_sum carries the loss slot. The update is one multi-tensor op.
// The caller clears `stats` for its next step.
// Attempted steps = applied steps (Optimizer::applied_steps) + skipped steps
// (LossScaler::total_skips); both are checkpointed, so the count survives a resume.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "backend/backend.h"
#include "nn/parameter.h"
#include "optim/lr_schedule.h"
#include "optim/optimizer.h"
#include "precision/loss_scaler.h"

namespace mp {

struct StepOutcome {
  bool skipped = false;
  double grad_norm = 0.0;       // unscaled global L2 norm before clipping (fp64); NaN when skipped
  double lr = 0.0;              // the lr applied; when skipped, the lr the schedule stays at
  double loss_scale = 1.0;      // S in force for this step (its backward started from loss x S)
  double new_loss_scale = 1.0;  // S after the scaler update: the next step's
  int64_t attempted_step = 0;   // 1-based number of this attempt (applied + skipped)
  int64_t applied_steps = 0;    // applied updates after this step
  int64_t skipped_steps = 0;    // skipped steps after this step
  double loss_sum = 0.0;        // the step stats' kStatLossSum as read back (0 without stats)
};

// A found_inf reduction that is the identity: single-process runs.
bool found_inf_local(bool found_inf);

StepOutcome optimizer_step(Backend& be, const ParamList& params, Optimizer& opt,
                           const LrSchedule& schedule, int64_t total_steps, LossScaler& scaler,
                           double clip_norm, const std::function<bool(bool)>& reduce_found_inf,
                           const std::vector<int64_t>& inject_nonfinite_steps,
                           const std::function<double(double)>& reduce_sum_squares = nullptr,
                           Tensor* stats = nullptr,
                           const std::function<void(const StepStats&)>& on_read = nullptr);

// Fill every gradient with zero (start of an accumulation).
void zero_grads(Backend& be, const ParamList& params);

}  // namespace mp
