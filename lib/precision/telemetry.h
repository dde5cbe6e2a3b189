// telemetry.h: precision telemetry, the rows of telemetry.csv. Measured where the compute dtype D
// actually bites: at each point where a layer rounds an fp32 result into D (nn/layer.h
// RoundingPoint), in a probe pass (the first micro-batch of a telemetry step) at the step's loss
// scale S, comparing the fp32 value before rounding with the value stored in D.
//
// Counting rules, per row over its `numel` elements, with e the fp32 value before rounding and s
// the value stored in D (for an fp32 layer e = s):
//   underflow_frac  e != 0 and s is 0 or subnormal in D (flushed to zero or lost precision)
//   overflow_frac   s is inf or NaN (e beyond D's max, or already non-finite in fp32)
//   near_max_frac   |e| >= max(D) / 2, or e non-finite (within 2x of overflow; includes overflow)
//   max_abs         max |e| (inf when an element is inf)
// Gradient rows are the activation gradients as really computed, i.e. multiplied by S: loss
// scaling works when their underflow_frac is ~0 and their near_max_frac 0. The fp32 value is
// recomputed from the layer's stored D inputs, so a row counts what its own rounding loses: an
// element flushed to 0 further up arrives as 0 and is not counted again.
//
// Rows (one per layer x quantity, in the order the pass meets them):
//   out        forward output of the layer
//   in_cast    forward input of another dtype cast into the layer's dtype (dtype boundaries)
//   grad       the activation gradient the layer passes down, dL/d(input) x S; layer "loss" is
//              dL/d(model output) x S, rounded into the output's dtype
//   grad_cast  an incoming gradient of another dtype cast into the layer's dtype
// A layer that rounds nothing (flatten, inactive dropout, the first layer's unused input
// gradient) has no row.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "nn/layer.h"
#include "nn/loss.h"

namespace mp {

struct TelemetryRow {
  int64_t step = 0;
  std::string layer;
  RoundingPoint point = RoundingPoint::Output;
  DType dtype = DType::F32;  // D: the dtype the values are stored in
  double loss_scale = 1.0;   // S of the step
  int64_t numel = 0;
  int64_t underflow = 0, overflow = 0, near_max = 0;  // element counts (rules above)
  double max_abs = 0.0;
};

// Counts for `exact` (fp32 values before rounding) against `stored` (the same elements as stored,
// read back as floats) in dtype `d`; step, layer, point and loss_scale are left to the caller.
TelemetryRow rounding_row(const std::vector<float>& exact, const std::vector<float>& stored,
                          DType d);

// "out", "in_cast", "grad", "grad_cast".
const char* rounding_point_name(RoundingPoint p);

// The probe the trainer puts into Context::probe for one micro-batch: a row per observed point.
class TelemetryProbe : public RoundingProbe {
 public:
  TelemetryProbe(Backend& be, int64_t step, double loss_scale)
      : be_(be), step_(step), loss_scale_(loss_scale) {}
  void observe(const Layer& layer, RoundingPoint point, const Tensor& stored,
               const std::function<void(Tensor& exact_f32)>& recompute) override;
  // The loss gradient `stored` (loss.grad() after loss.compute(be, out, target, grad_scale,
  // true)) as layer "loss": its fp32 values come from `shadow`, a second loss of the same type,
  // on an fp32 copy of `out` (exact: the loss computes in fp32 whatever its input dtype).
  void observe_loss_grad(Loss& shadow, const Tensor& out, const Tensor& target, float grad_scale,
                         const Tensor& stored);
  const std::vector<TelemetryRow>& rows() const { return rows_; }

 private:
  void record(const std::string& layer, RoundingPoint point, const Tensor& stored,
              const Tensor& exact);
  Backend& be_;
  int64_t step_;
  double loss_scale_;
  std::vector<TelemetryRow> rows_;
};

// "step,layer,quantity,dtype,loss_scale,numel,underflow_frac,overflow_frac,near_max_frac,max_abs"
// (no newline).
std::string telemetry_csv_header();
// One CSV line for a row (no newline); the layer name is quoted when it holds a comma or quote.
std::string telemetry_csv_line(const TelemetryRow& row);

}  // namespace mp
