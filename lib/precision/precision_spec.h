// precision_spec.h: the `precision:` section of a run spec (docs/ARCHITECTURE.md "The precision contract").
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mp {

struct LossScaleSpec {
  std::string mode = "auto";   // auto (dynamic for fp16, none otherwise) | dynamic | static | none
  double init = 65536.0;       // dynamic: initial scale
  double growth_factor = 2.0;  // > 1
  double backoff_factor = 0.5; // in (0, 1)
  int64_t growth_interval = 2000;  // clean steps before growing, >= 1
  int64_t hysteresis = 1;      // overflows tolerated before backing off, >= 1
  double min_scale = 1.0;      // > 0, never backed off below
  int64_t max_consecutive_skips = 50;  // >= 1; then the run stops with exit 4
  double value = 65536.0;      // static: the fixed scale
};

struct PrecisionSpec {
  std::string policy = "fp32";          // fp32 | fp16 | bf16
  std::string master_weights = "fp32";  // fp32 | none (pure low precision)
  bool allow_tf32 = false;              // GPU only, fp32 policy
  std::vector<std::string> fp32_layers; // layer names kept in fp32
  std::string allreduce_dtype = "fp32";   // fp32 | bf16: the gradient all-reduce's payload
  int64_t telemetry_every = 0;          // 0 = off
  LossScaleSpec loss_scale;
};

}  // namespace mp
