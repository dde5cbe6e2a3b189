// loss_scaler.cpp: the none / static / dynamic (GradScaler + hysteresis) update rules.
#include "precision/loss_scaler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include "core/error.h"

namespace mp {

namespace {

constexpr double kFloatMax = static_cast<double>(std::numeric_limits<float>::max());

std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// The config schema and resolve_spec validate these ranges, naming the key and its place in the
// file; for the scaler they are invariants of a validated spec, so a failure is a bug (exit 1).
void require(bool ok, const std::string& key, const std::string& expected, double got) {
  MP_CHECK(ok, "LossScaler: precision.loss_scale." + key + " is " + num(got) + ", not " + expected +
                   " (a spec that skipped validation)");
}

bool usable_scale(double s) { return std::isfinite(s) && s > 0.0 && s <= kFloatMax; }

}  // namespace

LossScaler::LossScaler(LossScaleMode mode, const LossScaleSpec& spec) : mode_(mode), spec_(spec) {
  require(spec.max_consecutive_skips >= 1, "max_consecutive_skips", "an integer >= 1",
          static_cast<double>(spec.max_consecutive_skips));
  if (mode == LossScaleMode::Static) {
    require(usable_scale(spec.value), "value", "a positive number representable in fp32",
            spec.value);
    st_.scale = spec.value;
  } else if (mode == LossScaleMode::Dynamic) {
    require(usable_scale(spec.init), "init", "a positive number representable in fp32", spec.init);
    require(spec.growth_factor > 1.0 && std::isfinite(spec.growth_factor), "growth_factor",
            "a number > 1", spec.growth_factor);
    require(spec.backoff_factor > 0.0 && spec.backoff_factor < 1.0, "backoff_factor",
            "a number in (0, 1)", spec.backoff_factor);
    require(spec.growth_interval >= 1, "growth_interval", "an integer >= 1",
            static_cast<double>(spec.growth_interval));
    require(spec.hysteresis >= 1, "hysteresis", "an integer >= 1",
            static_cast<double>(spec.hysteresis));
    require(usable_scale(spec.min_scale), "min_scale", "a positive number", spec.min_scale);
    require(spec.init >= spec.min_scale, "init", "a value >= min_scale (" + num(spec.min_scale) + ")",
            spec.init);
    st_.scale = spec.init;
  } else {
    st_.scale = 1.0;
  }
  st_.hysteresis_tracker = mode == LossScaleMode::Dynamic ? spec.hysteresis : 1;
}

LossScaler LossScaler::from_policy(const DTypePolicy& policy, const LossScaleSpec& spec) {
  return LossScaler(policy.loss_scale, spec);
}

void LossScaler::update(StepOverflow overflow) {
  if (overflow != StepOverflow::None) {
    ++st_.consecutive_skips;
    ++st_.total_skips;
    if (mode_ == LossScaleMode::Dynamic) {
      st_.growth_tracker = 0;
      if (overflow == StepOverflow::Scaled) {  // an unscaled overflow keeps S (loss_scaler.h)
        st_.hysteresis_tracker = std::max<int64_t>(st_.hysteresis_tracker - 1, 0);
        if (st_.hysteresis_tracker == 0)
          st_.scale = std::max(st_.scale * spec_.backoff_factor, spec_.min_scale);
      }
    }
    if (st_.consecutive_skips >= spec_.max_consecutive_skips) {
      std::ostringstream os;
      os << st_.consecutive_skips
         << " consecutive optimizer steps had inf/NaN gradients and were skipped (loss scale mode "
         << loss_scale_mode_name(mode_) << ", current scale " << st_.scale << ", "
         << st_.total_skips << " skipped steps in total): ";
      if (overflow == StepOverflow::Scaled)
        os << "the run is diverging or its gradients overflow the compute dtype. Try "
              "precision.policy: bf16 (fp32's exponent range), a lower optimizer.lr, "
              "precision.loss_scale.hysteresis > 1, a static scale (precision.loss_scale.mode: "
              "static with a smaller precision.loss_scale.value), or optimizer.grad_clip_norm; or the "
              "data holds extreme values (batches with NaN/Inf inputs are refused as they load, "
              "data.check_finite: true scans every split before training, raw pixels need "
              "data.input_scale); ";
      else
        os << "the latest step's loss-scaled gradients were finite, but the gradients unscaled "
              "(divided by the scale " << st_.scale
           << ") or their global norm were not: the true gradients are beyond fp32's range, "
              "which no loss scale can fix (a scale below 1 only makes unscaling overflow), and "
              "optimizer.grad_clip_norm acts only after this check. The run is diverging: lower "
              "optimizer.lr, or find the cause with precision.policy: fp32; ";
      os << "precision.loss_scale.max_consecutive_skips sets this limit ("
         << spec_.max_consecutive_skips << ")";
      throw NumericalError(os.str());
    }
    return;
  }
  st_.consecutive_skips = 0;
  if (mode_ != LossScaleMode::Dynamic) return;
  if (++st_.growth_tracker < spec_.growth_interval) return;
  st_.growth_tracker = 0;
  st_.hysteresis_tracker = spec_.hysteresis;
  const double grown = st_.scale * spec_.growth_factor;
  if (grown <= kFloatMax) st_.scale = grown;  // never to infinity (as an fp32 factor)
}

void LossScaler::set_state(const LossScalerState& s) {
  const bool ok = usable_scale(s.scale) && s.growth_tracker >= 0 && s.hysteresis_tracker >= 0 &&
                  s.consecutive_skips >= 0 && s.total_skips >= s.consecutive_skips;
  if (!ok)
    throw DataError("checkpoint /scaler: invalid loss scaler state (scale " + num(s.scale) +
                    ", growth_tracker " + std::to_string(s.growth_tracker) +
                    ", hysteresis_tracker " + std::to_string(s.hysteresis_tracker) +
                    ", consecutive_skips " + std::to_string(s.consecutive_skips) +
                    ", total_skips " + std::to_string(s.total_skips) + ")");
  const double fixed_scale = st_.scale;
  st_ = s;
  if (mode_ != LossScaleMode::Dynamic) {
    st_.scale = fixed_scale;  // none / static: the configured scale wins
    st_.growth_tracker = 0;
    st_.hysteresis_tracker = 1;
    return;
  }
  // A resumed run may have changed growth_interval or hysteresis: keep the trackers in range.
  st_.growth_tracker = std::min(st_.growth_tracker, spec_.growth_interval - 1);
  st_.hysteresis_tracker = std::min(st_.hysteresis_tracker, spec_.hysteresis);
}

}  // namespace mp
