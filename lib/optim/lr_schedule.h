// lr_schedule.h: the learning rate as a pure function of the applied-step count, so a checkpoint
// only needs that count (skipped steps do not advance it).
//
// With s = applied steps so far (0 for the first update, T - 1 for the last), W = warmup_steps,
// T = total steps, base = optimizer.lr, r = min_lr_ratio,
// p = clamp((s - W) / (T - 1 - W), 0, 1)  (p = 1 when T - 1 - W <= 0):
//   warmup   s < W:  base * (s + 1) / W      (first update base/W, update W-1 the full base)
//   constant         base
//   cosine           base * (r + (1 - r) * (1 + cos(pi p)) / 2)
//   linear           base * (r + (1 - r) (1 - p))
// so cosine and linear run update W at base and the last update (s = T - 1) at exactly base * r.
// A skipped step does not advance s, and the run ends after T attempted steps: with k skipped
// steps the last update is s = T - 1 - k, that many updates short of the end of the decay.
//   step             base * gamma ^ floor((s - W) / step_size)   (counted from the end of warmup)
#pragma once
#include <cstdint>

#include "optim/optim_spec.h"

namespace mp {

enum class LrScheduleKind : uint8_t { Constant, Cosine, Linear, Step };

class LrSchedule {
 public:
  // Throws ConfigError naming schedule.<key> for an unknown type or out-of-range value.
  LrSchedule(const ScheduleSpec& spec, double base_lr);

  // The learning rate for the update that follows `applied_steps` applied updates, in a run of
  // `total_steps` optimizer steps (used by cosine and linear; ignored otherwise).
  double lr(int64_t applied_steps, int64_t total_steps) const;
  double base_lr() const { return base_; }
  LrScheduleKind kind() const { return kind_; }

 private:
  LrScheduleKind kind_;
  ScheduleSpec spec_;
  double base_;
};

}  // namespace mp
