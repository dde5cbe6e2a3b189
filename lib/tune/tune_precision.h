// tune_precision.h: `mptrain tune-precision` (docs/ARCHITECTURE.md "Choosing the precision:
// tune-precision"): probe the spec in fp32 and in each candidate policy on the same batches from
// the same initial weights (tune_probe.h), decide per layer what must stay fp32 (tune_decision.h),
// re-probe with those layers in fp32, compare each candidate's loss curve with fp32's, and
// recommend the first passing candidate in this device's order (fp32 when none passes) with its
// `precision:` section.
//
//   1. fp32 reference probe: the losses to match and the true activation / gradient magnitudes.
//   2. Per candidate D: a probe with only the spec's own fp32 layers, at the fp16 loss scale
//      probe_loss_scale derives from the reference (bf16: no scaling); then up to kMaxRounds
//      rounds of: decide_fp32_layers on the latest probe, and when that adds layers, probe again
//      with them in fp32. The last probe is D's result: it passes when it ran every step, its
//      forward stayed finite and its loss curve is within kLossRelTolerance of fp32's.
//   3. The recommendation: policy D, precision.fp32_layers the spec's plus D's, and for fp16
//      loss_scale {mode: dynamic, init: recommended_scale_init of the last probe}.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/run_spec.h"
#include "tune/tune_decision.h"
#include "tune/tune_probe.h"

namespace mp {

// Rounds of "decide, then probe again" per candidate: rule 3 (gradients) needs a finite forward,
// so the usual course is one round for the forward's layers and one for the gradients'.
inline constexpr int kMaxTuneRounds = 3;
inline constexpr int64_t kDefaultTuneSteps = 50;

struct TuneOptions {
  RunSpec spec;  // the user's spec, --set and --device applied
  int64_t steps = kDefaultTuneSteps;
  std::vector<DType> candidates = {DType::BF16, DType::F16};
  int verbosity = 0;
};

// "--candidates bf16,fp16" -> its dtypes; ConfigError (exit 2) for an empty list, an unknown or
// repeated name, or fp32 (the reference, which always runs).
std::vector<DType> parse_candidates(const std::string& list);

struct CandidateReport {
  DType dtype = DType::F16;
  double probe_scale = 1.0;             // the fp16 probes' loss-scale init (1 for bf16)
  std::vector<LayerStats> first;        // its first probe (the spec's own fp32 layers only)
  std::vector<LayerStats> last;         // its last probe
  std::vector<std::string> fp32_layers; // the layers it keeps in fp32 (beyond the spec's own)
  std::vector<LayerDecision> decisions; // per reference layer: the first reason it got fp32
  int probes = 0;
  int exit_code = 0;                    // of the last probe
  std::string failure;                  // its message when it stopped
  bool forward_overflow = false;        // in the last probe
  CurveComparison curve;
  std::optional<double> scale_init;     // fp16: recommended_scale_init of the last probe
  bool pass = false;
};

struct TuneReport {
  std::string device;        // the backend's name
  std::string device_note;   // why `auto` would pick what it picks here
  std::vector<ProbeStep> ref_steps;
  std::vector<LayerStats> ref;
  std::vector<CandidateReport> candidates;  // in the device's order of preference
  int chosen = -1;                          // index into candidates; -1: fp32
  RunSpec recommended;                      // the spec with the recommended precision section
};

// Runs every probe in a scratch directory under the system's temp folder (removed after).
// ConfigError / DataError from the spec or its data propagate (exit 2 / 3); ProbeStopped on a
// signal.
TuneReport tune_precision(const TuneOptions& opt);

// The report: per candidate a line and its per-layer table, then what is recommended and why.
std::string tune_report_text(const TuneReport& r);

// The `precision:` section of dump_spec(spec), as YAML lines.
std::string precision_section_yaml(const RunSpec& spec);

}  // namespace mp
