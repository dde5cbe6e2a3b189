// tune_decision.cpp: the tune-precision rules (tune_decision.h) over probe results.
#include "tune/tune_decision.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/text.h"
#include "precision/dtype_policy.h"

namespace mp {

namespace {

bool is_forward(RoundingPoint p) {
  return p == RoundingPoint::Output || p == RoundingPoint::InputCast;
}

double frac(int64_t count, int64_t numel) {
  return numel > 0 ? static_cast<double>(count) / static_cast<double>(numel) : 0.0;
}

const LayerStats* find_layer(const std::vector<LayerStats>& stats, const std::string& name) {
  for (const LayerStats& s : stats)
    if (s.layer == name) return &s;
  return nullptr;
}

std::string dname(DType d) { return std::string(dtype_name(d)); }

}  // namespace

std::vector<LayerStats> layer_stats(const std::vector<TelemetryRow>& rows,
                                    const std::vector<ProbeStep>& steps) {
  std::map<int64_t, bool> skipped;
  for (const ProbeStep& s : steps) skipped[s.step] = s.skipped;
  std::vector<LayerStats> out;
  std::map<std::string, size_t> index;
  std::map<std::string, double> underflow_sum;
  std::map<std::string, int64_t> underflow_rows;
  const auto entry = [&](const TelemetryRow& r) -> LayerStats& {
    auto [it, fresh] = index.try_emplace(r.layer, out.size());
    if (fresh) {
      out.push_back({});
      out.back().layer = r.layer;
      out.back().dtype = r.dtype;
    }
    return out[it->second];
  };
  int64_t step = -1;
  bool seen_overflow = false;  // in the current step, by an earlier row
  for (const TelemetryRow& r : rows) {
    if (r.step != step) step = r.step, seen_overflow = false;
    const bool overflow = r.overflow > 0;
    if (r.layer == "loss") {  // not a layer, but its overflow comes before the gradient rows'
      seen_overflow |= overflow;
      continue;
    }
    LayerStats& s = entry(r);
    if (is_forward(r.point)) {
      if (r.point == RoundingPoint::Output) s.dtype = r.dtype;
      s.act_max_abs = std::max(s.act_max_abs, r.max_abs);
      s.act_overflow_frac = std::max(s.act_overflow_frac, frac(r.overflow, r.numel));
      if (overflow && !seen_overflow && !s.first_overflow) {
        s.first_overflow = true;
        s.first_overflow_point = r.point;
        s.first_overflow_max_abs = r.max_abs;
      }
    } else {
      s.grad_max_abs = std::max(s.grad_max_abs, r.max_abs);
      const auto k = skipped.find(r.step);
      if (k != skipped.end() && !k->second) {
        underflow_sum[r.layer] += frac(r.underflow, r.numel);
        ++underflow_rows[r.layer];
        s.grad_scale = std::max(s.grad_scale, r.loss_scale);
      }
    }
    seen_overflow |= overflow;
  }
  for (LayerStats& s : out)
    if (const auto n = underflow_rows[s.layer]; n > 0)
      s.grad_underflow_frac = underflow_sum[s.layer] / static_cast<double>(n);
  return out;
}

bool forward_overflowed(const std::vector<TelemetryRow>& rows) {
  return std::any_of(rows.begin(), rows.end(), [](const TelemetryRow& r) {
    return is_forward(r.point) && r.overflow > 0;
  });
}

double max_grad_abs(const std::vector<TelemetryRow>& rows) {
  double m = 0.0;
  for (const TelemetryRow& r : rows)
    if (!is_forward(r.point) && !(r.max_abs <= m)) m = r.max_abs;  // NaN or larger
  return m;
}

std::vector<LayerDecision> decide_fp32_layers(DType d, const std::vector<LayerStats>& ref,
                                              const std::vector<LayerStats>& cand,
                                              bool cand_forward_overflowed,
                                              const std::vector<std::string>& already_fp32) {
  const double limit = kNearMaxFraction * dtype_max(d);
  std::vector<LayerDecision> out;
  for (const LayerStats& r : ref) {
    LayerDecision dec{r.layer, true, ""};
    const LayerStats* c = find_layer(cand, r.layer);
    if (std::find(already_fp32.begin(), already_fp32.end(), r.layer) != already_fp32.end()) {
      dec.reason = "kept in fp32";
    } else if (!(r.act_max_abs <= limit)) {
      dec.reason = "fp32 activations reach |x| = " + num_text(r.act_max_abs) + " > " +
                   num_text(kNearMaxFraction) + " x max(" + dname(d) + ") = " + num_text(limit);
    } else if (c && c->first_overflow) {
      dec.reason = (c->first_overflow_point == RoundingPoint::InputCast
                        ? "its input, cast to " + dname(d) + ", overflowed first (|x| up to "
                        : "its " + dname(d) + " output overflowed first (|x| up to ") +
                   printf_text("%.5g", c->first_overflow_max_abs) + ", overflow frac " +
                   printf_text("%.3g", c->act_overflow_frac) + ")";
    } else if (c && !cand_forward_overflowed && c->dtype == d && c->grad_underflow_frac &&
               *c->grad_underflow_frac > kGradUnderflowLimit) {
      dec.reason = dname(d) + " activation gradients underflow " +
                   printf_text("%.3g", *c->grad_underflow_frac) + " > " +
                   num_text(kGradUnderflowLimit) + " at loss scale " + num_text(c->grad_scale);
    } else {
      dec.fp32 = false;
      dec.reason = "fits " + dname(d);
    }
    out.push_back(std::move(dec));
  }
  return out;
}

double probe_loss_scale(DType d, double ref_max_grad_abs, const LossScaleSpec& ls) {
  if (d != DType::F16) return 1.0;
  // The smallest power of two the scaler may use (min_scale rounded up).
  const double floor_scale = std::exp2(std::ceil(std::log2(ls.min_scale)));
  if (!std::isfinite(ref_max_grad_abs)) return floor_scale;
  double s = kMaxProbeScale;
  if (ref_max_grad_abs > 0.0)
    s = std::min(s, std::exp2(std::floor(std::log2(kGradScaleHeadroom * dtype_max(d) /
                                                   ref_max_grad_abs))));
  return std::max(s, floor_scale);
}

std::optional<double> recommended_scale_init(const std::vector<ProbeStep>& steps) {
  std::optional<double> best;
  for (const ProbeStep& s : steps)
    if (!s.skipped && s.loss_scale > 0 && (!best || s.loss_scale > *best)) best = s.loss_scale;
  if (best) best = std::exp2(std::floor(std::log2(*best)));
  return best;
}

CurveComparison compare_loss_curves(const std::vector<ProbeStep>& ref,
                                    const std::vector<ProbeStep>& cand) {
  CurveComparison c;
  if (ref.empty()) {
    c.why = "the fp32 reference has no steps";
    return c;
  }
  if (cand.size() < ref.size()) {
    c.why = "stopped after " + std::to_string(cand.size()) + " of " + std::to_string(ref.size()) +
            " steps";
    return c;
  }
  double sum = 0.0;
  const double floor = std::max(kLossFloorFraction * std::fabs(ref.front().loss), 1e-30);
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(cand[i].loss)) {
      c.why = "its loss is " + num_text(cand[i].loss) + " at step " +
              std::to_string(cand[i].step);
      c.mean_rel_dev = c.max_rel_dev = INFINITY;
      return c;
    }
    const double dev =
        std::fabs(cand[i].loss - ref[i].loss) / std::max(std::fabs(ref[i].loss), floor);
    sum += dev;
    c.max_rel_dev = std::max(c.max_rel_dev, dev);
  }
  c.mean_rel_dev = sum / static_cast<double>(ref.size());
  c.pass = c.mean_rel_dev <= kLossRelTolerance;
  if (!c.pass)
    c.why = "its loss departs from fp32's by " + printf_text("%.3g", c.mean_rel_dev) +
            " on average (relative; tolerance " + num_text(kLossRelTolerance) + ")";
  return c;
}

std::vector<DType> preference_order(const std::vector<DType>& candidates,
                                    const NativeLowPrecision& caps) {
  const DType first = choose_auto_policy(caps).compute == DType::F16 ? DType::F16 : DType::BF16;
  std::vector<DType> out;
  for (DType d : {first, first == DType::F16 ? DType::BF16 : DType::F16})
    if (std::find(candidates.begin(), candidates.end(), d) != candidates.end()) out.push_back(d);
  return out;
}

}  // namespace mp
