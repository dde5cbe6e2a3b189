// lr_schedule.cpp: constant / cosine / linear / step schedules with linear warmup.
#include "optim/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

#include "core/error.h"
#include "core/text.h"

namespace mp {

namespace {

LrScheduleKind parse_kind(const std::string& t) {
  if (t == "constant") return LrScheduleKind::Constant;
  if (t == "cosine") return LrScheduleKind::Cosine;
  if (t == "linear") return LrScheduleKind::Linear;
  if (t == "step") return LrScheduleKind::Step;
  throw ConfigError("schedule.type: expected one of constant, cosine, linear, step, got \"" + t +
                    "\"");
}

}  // namespace

LrSchedule::LrSchedule(const ScheduleSpec& spec, double base_lr)
    : kind_(parse_kind(spec.type)), spec_(spec), base_(base_lr) {
  if (!(std::isfinite(base_lr) && base_lr > 0.0))
    throw ConfigError("optimizer.lr: expected a positive number, got " + num_text(base_lr));
  if (spec.warmup_steps < 0)
    throw ConfigError("schedule.warmup_steps: expected an integer >= 0, got " +
                      std::to_string(spec.warmup_steps));
  if (!(spec.min_lr_ratio >= 0.0 && spec.min_lr_ratio <= 1.0))
    throw ConfigError("schedule.min_lr_ratio: expected a number in [0, 1], got " +
                      num_text(spec.min_lr_ratio));
  if (kind_ == LrScheduleKind::Step) {
    if (spec.step_size < 1)
      throw ConfigError("schedule.step_size: expected an integer >= 1, got " +
                        std::to_string(spec.step_size));
    if (!(spec.gamma > 0.0 && spec.gamma <= 1.0))
      throw ConfigError("schedule.gamma: expected a number in (0, 1], got " + num_text(spec.gamma));
  }
}

double LrSchedule::lr(int64_t applied_steps, int64_t total_steps) const {
  const int64_t s = std::max<int64_t>(applied_steps, 0);
  const int64_t w = spec_.warmup_steps;
  if (s < w) return base_ * static_cast<double>(s + 1) / static_cast<double>(w);
  const double r = spec_.min_lr_ratio;
  // The decay runs over updates s = w .. total_steps - 1: p = 0 on the first, 1 on the last (so the
  // last update runs at exactly base * r). A decay of one update is all end: p = 1.
  const int64_t last = total_steps - 1 - w;
  const double p = last <= 0 ? 1.0
                             : std::clamp(static_cast<double>(s - w) / static_cast<double>(last),
                                          0.0, 1.0);
  switch (kind_) {
    case LrScheduleKind::Constant: return base_;
    // Both written as r + (1 - r) * f with f = 0 at p = 1, so the end is base * r to the bit.
    case LrScheduleKind::Cosine:
      return base_ * (r + (1.0 - r) * 0.5 * (1.0 + std::cos(std::numbers::pi * p)));
    case LrScheduleKind::Linear: return base_ * (r + (1.0 - r) * (1.0 - p));
    case LrScheduleKind::Step:
      return base_ * std::pow(spec_.gamma, static_cast<double>((s - w) / spec_.step_size));
  }
  return base_;
}

}  // namespace mp
