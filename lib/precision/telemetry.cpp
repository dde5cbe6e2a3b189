// telemetry.cpp: the probe's rows (counted on the host: a probe pass is one micro-batch every
// precision.telemetry_every steps, so reading its tensors back costs little and needs no op of
// its own in either engine) and their CSV form.
#include "precision/telemetry.h"

#include <cmath>
#include <cstdio>

namespace mp {

namespace {

// Smallest positive normal value of D: below it a stored value is subnormal (or 0).
float min_normal(DType d) {
  return d == DType::F16 ? 6.103515625e-05f /* 2^-14 */ : 1.17549435e-38f /* 2^-126 */;
}

}  // namespace

TelemetryRow rounding_row(const std::vector<float>& exact, const std::vector<float>& stored,
                          DType d) {
  MP_CHECK(exact.size() == stored.size(), "rounding_row: " + std::to_string(exact.size()) +
                                              " exact values for " + std::to_string(stored.size()) +
                                              " stored ones");
  TelemetryRow r;
  r.dtype = d;
  r.numel = static_cast<int64_t>(exact.size());
  const float tiny = min_normal(d);
  const double half_max = dtype_max(d) / 2.0;
  for (size_t i = 0; i < exact.size(); ++i) {
    const float e = exact[i], s = stored[i];
    r.underflow += e != 0.0f && std::fabs(s) < tiny;  // false for a NaN s
    r.overflow += !std::isfinite(s);
    r.near_max += !std::isfinite(e) || std::fabs(e) >= half_max;
    if (std::fabs(e) > r.max_abs) r.max_abs = std::fabs(e);  // NaN compares false: skipped
  }
  return r;
}

const char* rounding_point_name(RoundingPoint p) {
  switch (p) {
    case RoundingPoint::Output: return "out";
    case RoundingPoint::InputGrad: return "grad";
    case RoundingPoint::InputCast: return "in_cast";
    case RoundingPoint::GradCast: return "grad_cast";
  }
  return "?";
}

void TelemetryProbe::record(const std::string& layer, RoundingPoint point, const Tensor& stored,
                            const Tensor& exact) {
  TelemetryRow r = rounding_row(to_host_floats(be_, exact), to_host_floats(be_, stored),
                                stored.dtype());
  r.step = step_;
  r.layer = layer;
  r.point = point;
  r.loss_scale = loss_scale_;
  rows_.push_back(std::move(r));
}

void TelemetryProbe::observe(const Layer& layer, RoundingPoint point, const Tensor& stored,
                             const std::function<void(Tensor& exact_f32)>& recompute) {
  if (!is_float(stored.dtype())) return;
  if (stored.dtype() == DType::F32) return record(layer.name(), point, stored, stored);
  Tensor exact = be_.empty(stored.shape(), DType::F32);
  recompute(exact);
  record(layer.name(), point, stored, exact);
}

void TelemetryProbe::observe_loss_grad(Loss& shadow, const Tensor& out, const Tensor& target,
                                       float grad_scale, const Tensor& stored) {
  if (stored.dtype() == DType::F32) return record("loss", RoundingPoint::InputGrad, stored, stored);
  Tensor out32 = be_.empty(out.shape(), DType::F32);
  be_.cast(out, out32);
  shadow.compute(be_, out32, target, grad_scale, true);
  record("loss", RoundingPoint::InputGrad, stored, shadow.grad());
}

std::string telemetry_csv_header() {
  return "step,layer,quantity,dtype,loss_scale,numel,underflow_frac,overflow_frac,near_max_frac,"
         "max_abs";
}

std::string telemetry_csv_line(const TelemetryRow& row) {
  std::string name = row.layer;
  if (name.find_first_of(",\"\n") != std::string::npos) {
    std::string q = "\"";
    for (char c : name) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    name = q + "\"";
  }
  const double n = row.numel > 0 ? static_cast<double>(row.numel) : 1.0;
  char buf[256];
  std::snprintf(buf, sizeof buf, ",%s,%s,%.9g,%lld,%.9g,%.9g,%.9g,%.9g",
                rounding_point_name(row.point), std::string(dtype_name(row.dtype)).c_str(),
                row.loss_scale, static_cast<long long>(row.numel),
                static_cast<double>(row.underflow) / n, static_cast<double>(row.overflow) / n,
                static_cast<double>(row.near_max) / n, row.max_abs);
  return std::to_string(row.step) + "," + name + buf;
}

}  // namespace mp
