// tune_decision.h: the rules `mptrain tune-precision` decides by (docs/ARCHITECTURE.md "Choosing the
// precision: tune-precision"), as pure functions of probe results, so the unit tests can feed them
// hand-made telemetry tables. A probe is a short training run (tune_probe.h) with precision
// telemetry on every step (precision/telemetry.h); its per-layer figures are folded here into
// LayerStats, and the rules below turn them into "this layer stays fp32, because ...".
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"  // NativeLowPrecision
#include "core/dtype.h"
#include "precision/precision_spec.h"
#include "precision/telemetry.h"

namespace mp {

// A layer stays fp32 in D when its fp32 activations reach this fraction of max(D): the same
// "within 2x of overflow" line telemetry's near_max_frac counts, because activations measured on
// N probe steps grow during a long run (weights grow, later batches differ) and a value at half
// of max(D) is one doubling away from inf.
inline constexpr double kNearMaxFraction = 0.5;
// A layer stays fp32 when more than this fraction of its nonzero activation gradients still
// underflow D (flush to 0 or subnormal) at the largest safe loss scale. A few percent lost at the
// bottom of the range costs little (those values are tiny next to the rest of the gradient); a
// tenth of a layer's gradient lost biases its weight updates towards zero.
inline constexpr double kGradUnderflowLimit = 0.10;
// The probe's fp16 loss scale: the largest power of two that keeps the largest fp32 activation
// gradient the reference measured (all layers, loss gradient included) below this fraction of
// max(fp16): a 4x margin for gradients that grow after the probe's few steps, which the dynamic
// scaler would otherwise answer with skipped steps.
inline constexpr double kGradScaleHeadroom = 0.25;
// The probe's scale is never above this (PyTorch's default 2^16 times 2^8): N probe steps see too
// few gradients to justify more.
inline constexpr double kMaxProbeScale = 16777216.0;  // 2^24
// A candidate passes when the mean over the probe's steps of the relative loss deviation
// |L - L_fp32| / max(|L_fp32|, kLossFloorFraction x |L_fp32 at step 1|) is at most this. Same
// batches and initial weights, so the curves differ only by rounding: on the MNIST MLP and the
// e2e model bf16 and fp16 stay within about 1 % (README "Choosing the precision automatically"),
// a layer that overflows or a stalled update departs by far more (or ends in NaN).
inline constexpr double kLossRelTolerance = 0.03;
// Once the loss has fallen below a tenth of where it started, deviations are measured against
// that tenth: a loss near 0 would turn a rounding-sized absolute difference into a large relative
// one (bf16 moves a 1e-4 loss by a few percent, which says nothing about the training).
inline constexpr double kLossFloorFraction = 0.1;

// One optimizer step of a probe, from its metrics.csv.
struct ProbeStep {
  int64_t step = 0;
  double loss = 0.0;
  double loss_scale = 1.0;
  bool skipped = false;
};

// A layer's figures over a probe's telemetry rows. Forward rows (out, in_cast) and gradient rows
// (grad, grad_cast) are folded separately.
struct LayerStats {
  std::string layer;
  DType dtype = DType::F32;        // the dtype its output is stored in (its `out` row)
  double act_max_abs = 0.0;        // max |x| over its forward rows and all steps (inf if any)
  double act_overflow_frac = 0.0;  // largest overflow_frac of a forward row
  // Its forward row was, in some step, the first row of the pass with an overflow: the layer
  // made the inf itself (every later row of that step only inherits it).
  bool first_overflow = false;
  RoundingPoint first_overflow_point = RoundingPoint::Output;  // out, or in_cast (its input)
  double first_overflow_max_abs = 0.0;  // that row's max |x| before rounding (may be inf)
  double grad_max_abs = 0.0;        // max |g x S| over its gradient rows
  // Mean underflow_frac of its gradient rows over the steps that were not skipped (their
  // gradients were finite), at those steps' scale; nullopt when no such step has a gradient row.
  std::optional<double> grad_underflow_frac;
  double grad_scale = 0.0;  // the largest loss scale among those steps
};

// The layers of a probe in the order its forward pass met them; the pseudo-layer "loss" (the
// loss gradient) is left out: it is no layer that precision.fp32_layers could name.
std::vector<LayerStats> layer_stats(const std::vector<TelemetryRow>& rows,
                                    const std::vector<ProbeStep>& steps);

// True when some forward row (out, in_cast) of the probe overflowed D.
bool forward_overflowed(const std::vector<TelemetryRow>& rows);

// The largest |activation gradient| of any gradient row (the loss gradient included).
double max_grad_abs(const std::vector<TelemetryRow>& rows);

struct LayerDecision {
  std::string layer;
  bool fp32 = false;
  std::string reason;  // why fp32, or why D is fine
};

// Which layers of a probe in D must stay fp32, from the fp32 reference's stats (activation
// magnitudes as they really are) and the candidate probe's (what rounding to D did):
//  1. reference act_max_abs > kNearMaxFraction x max(D): near D's max;
//  2. candidate first_overflow: the layer that made the forward inf;
//  3. candidate grad_underflow_frac > kGradUnderflowLimit for a layer in D, only when the
//     candidate's forward stayed finite (an inf forward leaves only NaN gradients to judge).
// One decision per layer of `ref`, in its order; `already_fp32` layers are reported as kept.
std::vector<LayerDecision> decide_fp32_layers(DType d, const std::vector<LayerStats>& ref,
                                              const std::vector<LayerStats>& cand,
                                              bool cand_forward_overflowed,
                                              const std::vector<std::string>& already_fp32);

// The fp16 probe's loss scale from the reference's largest activation gradient (kGradScaleHeadroom,
// kMaxProbeScale), a power of two, never below min_scale. For bf16 and fp32: 1 (no scaling).
double probe_loss_scale(DType d, double ref_max_grad_abs, const LossScaleSpec& ls);

// The loss-scale init to recommend: the largest power of two among the scales of the probe's
// steps that were not skipped (that scale saw no overflow); nullopt when every step was skipped.
std::optional<double> recommended_scale_init(const std::vector<ProbeStep>& steps);

struct CurveComparison {
  bool pass = false;
  double mean_rel_dev = 0.0;  // the tested figure (kLossRelTolerance)
  double max_rel_dev = 0.0;   // for the report
  std::string why;            // the failing reason, or "" when it passes
};

// A candidate's loss curve against fp32's, step by step (both from step 1); it must have every
// step of the reference with a finite loss.
CurveComparison compare_loss_curves(const std::vector<ProbeStep>& ref,
                                    const std::vector<ProbeStep>& cand);

// The candidates in the order they are preferred (cheapest first) on this device: the dtype
// `precision.policy: auto` picks there (choose_auto_policy) first; where auto picks fp32 (the
// device only emulates 16-bit GEMMs), bf16 before fp16 (no loss scaling needed).
std::vector<DType> preference_order(const std::vector<DType>& candidates,
                                    const NativeLowPrecision& caps);

}  // namespace mp
