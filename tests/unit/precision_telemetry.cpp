// precision_telemetry.cpp: gradient underflow fractions and headroom against each parameter's
// compute dtype, read from loss-scaled or unscaled gradients, and the telemetry.csv line format.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "backend/backend.h"
#include "precision/telemetry.h"

using namespace mp;

namespace {

Parameter make(Backend& be, const std::string& name, DType working, const std::vector<float>& g) {
  const Shape s{static_cast<int64_t>(g.size())};
  Parameter p = make_parameter(be, name, s, working, true, true);
  std::vector<float> copy = g;
  be.upload(copy.data(), p.grad);
  return p;
}

}  // namespace

TEST_CASE("underflow fraction and max |g| against fp16, bf16 and fp32") {
  auto be = make_cpu_backend(1);
  // fp16's smallest subnormal is 2^-24 = 5.96e-8: below 2.98e-8 a value flushes to zero.
  const std::vector<float> g = {0.0f, 1e-8f, -2e-8f, 2.9e-8f, 3.1e-8f, 1e-3f, -250.0f, 1e-30f};
  Parameter h = make(*be, "h", DType::F16, g);
  Parameter b = make(*be, "b", DType::BF16, g);
  Parameter f = make(*be, "f", DType::F32, g);
  const std::vector<TelemetryRow> rows = gradient_telemetry(*be, {&h, &b, &f}, 1.0, 12);
  REQUIRE(rows.size() == 3);
  // fp16: 1e-8, -2e-8, 2.9e-8 and 1e-30 underflow; 0 does not count; 3.1e-8 survives.
  CHECK(rows[0].name == "h");
  CHECK(rows[0].step == 12);
  CHECK(rows[0].dtype == DType::F16);
  CHECK(rows[0].numel == 8);
  CHECK(rows[0].underflow_count == 4);
  CHECK(rows[0].underflow_frac == 0.5);
  CHECK(rows[0].max_abs == 250.0);
  CHECK(rows[0].max_abs_over_dtype_max == doctest::Approx(250.0 / 65504.0));
  // bf16 has fp32's exponent range: even 1e-30 is representable (smallest subnormal 9.2e-41).
  CHECK(rows[1].underflow_count == 0);
  CHECK(rows[1].max_abs_over_dtype_max == doctest::Approx(250.0 / 3.3895313892515355e38));
  CHECK(rows[2].underflow_count == 0);
  // Cross-check the fp16 count against the conversion itself: nonzero values that become 0.
  int64_t flushed = 0;
  for (float x : g) flushed += x != 0.0f && round_to<half>(x) == 0.0f;
  CHECK(rows[0].underflow_count == flushed);
}

TEST_CASE("loss-scaled gradients read with factor 1/S give the unscaled statistics") {
  auto be = make_cpu_backend(1);
  std::vector<float> g = {1e-8f, 4e-8f, 2e-8f, 0.5f, -3e-9f, 1e-6f};
  std::vector<float> scaled = g;
  for (float& x : scaled) x *= 1024.0f;
  Parameter a = make(*be, "a", DType::F16, g);
  Parameter s = make(*be, "a", DType::F16, scaled);
  const TelemetryRow ra = gradient_telemetry(*be, {&a}, 1.0, 1)[0];
  const TelemetryRow rs = gradient_telemetry(*be, {&s}, 1.0 / 1024, 1)[0];
  CHECK(ra.underflow_count == 3);
  CHECK(rs.underflow_count == ra.underflow_count);
  CHECK(rs.max_abs == ra.max_abs);
  CHECK(rs.max_abs_over_dtype_max == ra.max_abs_over_dtype_max);
  // Read without the factor, the scaled gradients show what loss scaling rescued: nothing flushes.
  CHECK(gradient_telemetry(*be, {&s}, 1.0, 1)[0].underflow_count == 0);
}

TEST_CASE("activation rows and CSV lines") {
  auto be = make_cpu_backend(1);
  Tensor act = from_host_floats(*be, {1.0f, -70000.0f, 0.0f, 1e-9f}, {2, 2}, DType::F32);
  const TelemetryRow r =
      magnitude_row(*be, act, DType::F16, 1.0, 30, "layers.3.out", TelemetryKind::Activation);
  CHECK(r.kind == TelemetryKind::Activation);
  CHECK(r.underflow_frac == 0.25);
  CHECK(r.max_abs_over_dtype_max > 1.0);  // would overflow fp16
  CHECK(telemetry_csv_header() == "step,param,numel,underflow_frac,max_abs,max_abs_over_dtype_max");
  CHECK(telemetry_csv_line(r) == "30,layers.3.out,4,0.25,70000,1.06863703");
  TelemetryRow q = r;
  q.name = "odd,\"name\"";
  CHECK(telemetry_csv_line(q).rfind("30,\"odd,\"\"name\"\"\",4,", 0) == 0);
  TelemetryRow empty;
  empty.name = "e";
  CHECK(telemetry_csv_line(empty) == "0,e,0,0,0,0");
}
