// tune_probe.h: one probe of `mptrain tune-precision`: the user's spec trained for a few steps
// through the real Trainer (so batches, initial weights, the step and the scaler are exactly those
// of a run), in a scratch run directory, with precision telemetry on every step and a metrics row
// per step; its metrics.csv and telemetry.csv are read back into a ProbeResult. A probe that
// stops with a numerical failure (exit 4: the unaided fp16 run of a model that overflows) is a
// result, not an error: its rows so far and its message are kept.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "config/run_spec.h"
#include "core/dtype.h"
#include "precision/telemetry.h"
#include "tune/tune_decision.h"

namespace mp {

struct ProbeConfig {
  DType policy = DType::F32;
  std::vector<std::string> fp32_layers;  // added to the spec's own
  double loss_scale = 1.0;               // fp16: the dynamic scaler's init
  int64_t steps = 50;
};

struct ProbeResult {
  ProbeConfig config;
  std::vector<ProbeStep> steps;     // metrics.csv, one row per step
  std::vector<TelemetryRow> rows;   // telemetry.csv
  int exit_code = 0;                // the run's: 0, or 4 (numerical failure), ...
  std::string error;                // its message when exit_code != 0
};

// The spec a probe trains: `base` with the policy, fp32 layers and scale of `pc`, pc.steps steps,
// telemetry and a metrics row every step, no validation split (the probe compares training
// losses), no checkpoints before the end, output.dir = dir.
RunSpec probe_spec(const RunSpec& base, const ProbeConfig& pc, const std::filesystem::path& dir);

// Trains probe_spec into `dir` (created; left for the caller to remove) and reads its files.
// Configuration and data errors (exit 2, 3) and signals (130, 143) propagate as exceptions
// (ConfigError, DataError, ProbeStopped); a numerical failure is returned in the result.
ProbeResult run_probe(const RunSpec& base, const ProbeConfig& pc, const std::filesystem::path& dir,
                      int verbosity);

// A probe stopped by SIGINT/SIGTERM: the tuning stops with that exit code.
struct ProbeStopped {
  int code;
};

// Parsers of the run files a probe leaves (headers checked; DataError naming the file and line).
std::vector<ProbeStep> read_probe_metrics(const std::filesystem::path& metrics_csv);
std::vector<TelemetryRow> read_probe_telemetry(const std::filesystem::path& telemetry_csv);

}  // namespace mp
