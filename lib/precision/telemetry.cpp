// telemetry.cpp: magnitude statistics via Backend::magnitude_stats, and their CSV form.
#include "precision/telemetry.h"

#include <cstdio>

namespace mp {

TelemetryRow magnitude_row(Backend& be, const Tensor& x, DType dtype, double factor, int64_t step,
                           const std::string& name, TelemetryKind kind) {
  TelemetryRow r;
  r.step = step;
  r.name = name;
  r.kind = kind;
  r.dtype = dtype;
  r.numel = x.numel();
  if (r.numel == 0) return r;
  // Below half the smallest subnormal a value rounds to zero. For fp32 that is 2^-150, which is
  // 0 as a float: nothing can be counted, which is right (no fp32 value lies below it).
  const float threshold = static_cast<float>(dtype_min_subnormal(dtype) / 2.0);
  int64_t below = 0;
  float max_abs = 0.0f;
  be.magnitude_stats(x, static_cast<float>(factor), threshold, below, max_abs);
  r.underflow_count = below;
  r.underflow_frac = static_cast<double>(below) / static_cast<double>(r.numel);
  r.max_abs = static_cast<double>(max_abs) * factor;
  r.max_abs_over_dtype_max = r.max_abs / dtype_max(dtype);
  return r;
}

std::vector<TelemetryRow> gradient_telemetry(Backend& be, const ParamList& params,
                                             double grad_factor, int64_t step) {
  std::vector<TelemetryRow> rows;
  rows.reserve(params.size());
  for (const Parameter* p : params) {
    const DType d = p->working.defined() ? p->working.dtype() : p->master.dtype();
    rows.push_back(magnitude_row(be, p->grad, d, grad_factor, step, p->name,
                                 TelemetryKind::Gradient));
  }
  return rows;
}

std::string telemetry_csv_header() {
  return "step,param,numel,underflow_frac,max_abs,max_abs_over_dtype_max";
}

std::string telemetry_csv_line(const TelemetryRow& row) {
  std::string name = row.name;
  if (name.find_first_of(",\"\n") != std::string::npos) {
    std::string q = "\"";
    for (char c : name) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    name = q + "\"";
  }
  char buf[160];
  std::snprintf(buf, sizeof buf, ",%lld,%.9g,%.9g,%.9g", static_cast<long long>(row.numel),
                row.underflow_frac, row.max_abs, row.max_abs_over_dtype_max);
  return std::to_string(row.step) + "," + name + buf;
}

}  // namespace mp
