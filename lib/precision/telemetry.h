// telemetry.h: per-tensor magnitude statistics against a low-precision dtype, the rows of
// telemetry.csv (step,param,numel,underflow_frac,max_abs,max_abs_over_dtype_max).
//
// For each parameter gradient (fp32) and its compute dtype D (the working copy's dtype, so
// fp32-override layers report against fp32): underflow_frac is the fraction of elements with
// 0 < |g| < min_subnormal(D) / 2, i.e. the gradient values that would flush to zero if they were
// stored in D without loss scaling; max_abs is max |g| and max_abs_over_dtype_max = max_abs /
// max(D), the headroom left before overflow. The same row describes activation tensors (kind
// Activation, name chosen by the trainer, e.g. "layers.3.out").
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "nn/parameter.h"

namespace mp {

enum class TelemetryKind : uint8_t { Gradient, Activation };

struct TelemetryRow {
  int64_t step = 0;
  std::string name;  // parameter name (gradients) or activation name; the `param` column
  TelemetryKind kind = TelemetryKind::Gradient;
  DType dtype = DType::F32;     // the dtype the magnitudes are measured against
  int64_t numel = 0;
  int64_t underflow_count = 0;  // elements with 0 < |x| < min_subnormal(dtype) / 2
  double underflow_frac = 0.0;  // underflow_count / numel (0 for an empty tensor)
  double max_abs = 0.0;         // max |x| * factor (inf when x holds an inf)
  double max_abs_over_dtype_max = 0.0;
};

// Statistics of x * factor against `dtype` (factor = 1/S reads loss-scaled gradients as their
// unscaled values; the tensor itself is not modified).
TelemetryRow magnitude_row(Backend& be, const Tensor& x, DType dtype, double factor, int64_t step,
                           const std::string& name, TelemetryKind kind);

// One row per parameter: its fp32 gradient against the working copy's dtype. Call with
// grad_factor = 1/S while the gradients are still loss-scaled (before optimizer_step), or 1 on
// unscaled gradients.
std::vector<TelemetryRow> gradient_telemetry(Backend& be, const ParamList& params,
                                             double grad_factor, int64_t step);

// "step,param,numel,underflow_frac,max_abs,max_abs_over_dtype_max" (no newline).
std::string telemetry_csv_header();
// One CSV line for a row (no newline); the name is quoted when it holds a comma or quote.
std::string telemetry_csv_line(const TelemetryRow& row);

}  // namespace mp
