// loss_scaler.h: the loss scale S the backward pass starts from (loss x S) and its update rule
// after each attempted optimizer step (docs/ARCHITECTURE.md "The precision contract").
//
//   none     S = 1 always.
//   static   S = precision.loss_scale.value always.
//   dynamic  PyTorch GradScaler (init 65536, growth 2, backoff 0.5, interval 2000) with
//            Megatron-style hysteresis (default 1 = exactly PyTorch):
//            overflow:  growth_tracker = 0; hysteresis_tracker -= 1 (not below 0); when it is 0
//                       S = max(S * backoff, min_scale). The hysteresis tracker is NOT refilled by
//                       a backoff (Megatron): once exhausted, every further overflow backs off
//                       until growth_interval clean steps in a row refill it.
//            clean:     growth_tracker += 1; when it reaches growth_interval: growth_tracker = 0,
//                       hysteresis refilled, S = S * growth unless that is not a finite fp32
//                       number (S is used as an fp32 factor in the backward), then S is kept.
//
// In every mode an overflowing step is skipped and counted (consecutive and total); after
// max_consecutive_skips overflowing steps in a row update() throws NumericalError (exit 4).
//
// Two kinds of overflow (StepOverflow). Scaled: the gradients as the backward left them (x S) are
// non-finite: the scale may be the cause, and the dynamic rule above backs off. Unscaled: the
// scaled gradients are finite but gradient x 1/S is not (possible only with S < 1, a static
// value or a min_scale below 1), or the global norm is not finite. Then the true gradient is
// beyond fp32's range whatever S is: S x g is finite here and g / S would overflow at any S, and
// backing off would only make S (already < 1) smaller still, losing more of the fp16 backward to
// underflow on the following steps. So an unscaled overflow is skipped and counted like any
// other (the same skip counters and limit) but leaves S and the hysteresis tracker alone; it
// resets the growth tracker, as the step was not clean (growth needs growth_interval clean steps
// in a row).
#pragma once
#include <cstdint>

#include "precision/dtype_policy.h"
#include "precision/precision_spec.h"

namespace mp {

// What made an attempted step skip (see above).
enum class StepOverflow : uint8_t { None, Scaled, Unscaled };

// Everything a checkpoint must hold to continue the scaler exactly.
struct LossScalerState {
  double scale = 1.0;
  int64_t growth_tracker = 0;      // clean steps since the last growth or overflow
  int64_t hysteresis_tracker = 1;  // overflows left before the next backoff
  int64_t consecutive_skips = 0;   // overflowing steps in a row, ending with the latest
  int64_t total_skips = 0;         // skipped steps in the whole run (overflow or nothing to learn)
};

class LossScaler {
 public:
  // `spec` must be validated (the config schema and resolve_spec check its ranges); the fields
  // the mode uses are asserted (InternalError naming precision.loss_scale.<key>).
  LossScaler(LossScaleMode mode, const LossScaleSpec& spec);
  // The scaler for a resolved policy (its loss-scale mode) and the spec's parameters.
  static LossScaler from_policy(const DTypePolicy& policy, const LossScaleSpec& spec);

  LossScaleMode mode() const { return mode_; }
  double scale() const { return st_.scale; }
  double inv_scale() const { return 1.0 / st_.scale; }  // reciprocal taken in fp64

  // Record the outcome of one attempted step (already reduced over all ranks) and update S.
  // Throws NumericalError after max_consecutive_skips overflowing steps in a row.
  void update(StepOverflow overflow);
  // found_inf: a scaled overflow (the backward's gradients were non-finite).
  void update(bool found_inf) { update(found_inf ? StepOverflow::Scaled : StepOverflow::None); }
  // Record a step that applied no update for another reason than an overflow (every target of
  // the step ignored): counted in total_skips, so step = applied + skipped holds for checkpoints
  // and the metrics' skipped column, but S, its trackers and the consecutive count are unchanged.
  void record_no_update_step() { ++st_.total_skips; }

  int64_t total_skips() const { return st_.total_skips; }
  int64_t consecutive_skips() const { return st_.consecutive_skips; }

  const LossScalerState& state() const { return st_; }
  // Restore from a checkpoint; throws DataError for values no scaler could have produced
  // (non-positive or non-fp32 scale, negative counters). In none/static mode the configured
  // scale is kept and only the skip counters are restored; in dynamic mode trackers beyond a
  // (changed) growth_interval or hysteresis are clamped into range.
  void set_state(const LossScalerState& s);

 private:
  LossScaleMode mode_;
  LossScaleSpec spec_;
  LossScalerState st_;
};

}  // namespace mp
