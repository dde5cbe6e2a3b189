// spec_resolve.cpp: cross-field resolution and checks.
#include "config/spec_resolve.h"

#include "config/output_dir.h"
#include "core/tensor.h"
#include "core/text.h"
#include "precision/dtype_policy.h"

namespace mp {

namespace {

// The precision section: loss_scale.mode `auto` as the policy resolves it (resolve_dtype_policy
// holds the rule; the resolved spec shows the result), and the dynamic scale's start above its floor.
// With policy `auto` the device decides the policy (resolve_auto_policy, once a backend exists), so
// both stay `auto` here; the scale rule is checked whenever the mode may become dynamic.
void resolve_precision(PrecisionSpec& p, const SpecOrigins& origins) {
  auto& ls = p.loss_scale;
  bool may_be_dynamic = ls.mode == "dynamic" || ls.mode == "auto";
  if (p.policy != "auto") {
    const DTypePolicy policy = resolve_dtype_policy(p);
    ls.mode = loss_scale_mode_name(policy.loss_scale);
    may_be_dynamic = policy.loss_scale == LossScaleMode::Dynamic;
  }
  if (may_be_dynamic && !(ls.init >= ls.min_scale))
    origins.fail("precision.loss_scale.init",
                 "expected a value >= precision.loss_scale.min_scale (" + num_text(ls.min_scale) +
                     "), got " + num_text(ls.init));
}

// data.format: tokens: a window length, the model's input [T] (filled in when left empty), ids
// fed unscaled; data.context means nothing for samples.
void resolve_token_data(RunSpec& spec, const SpecOrigins& origins) {
  const DataSpec& d = spec.data;
  if (d.format != "tokens") {
    if (d.context != 0)
      origins.fail("data.context", "expected 0 (unset) with data.format: samples, got " +
                                       std::to_string(d.context) + "; set data.format: tokens to "
                                       "cut a token stream into windows");
    return;
  }
  if (d.context < 1)
    origins.fail("data.context", "expected the window length (>= 1 tokens) with data.format: "
                                 "tokens, got " + std::to_string(d.context));
  auto& in = spec.model.input_shape;
  if (in.empty()) in = {d.context};
  if (in != std::vector<int64_t>{d.context})
    origins.fail("model.input_shape", "expected [" + std::to_string(d.context) +
                                          "] (data.context tokens per sample) with data.format: "
                                          "tokens, got " + shape_str(in) +
                                          "; make it [data.context] or leave it []");
  if (d.input_scale != 1.0)
    origins.fail("data.input_scale", "expected 1 with data.format: tokens (the inputs are token "
                                     "ids), got " + num_text(d.input_scale));
}

}  // namespace

void resolve_spec(RunSpec& spec, const SpecOrigins& origins) {
  resolve_precision(spec.precision, origins);

  const auto& opt = spec.optimizer;
  if (opt.nesterov && !(opt.momentum > 0))
    origins.fail("optimizer.nesterov", "expected false when optimizer.momentum is 0, got true "
                                       "(Nesterov needs momentum > 0; set optimizer.momentum)");

  resolve_token_data(spec, origins);
  if (spec.data.format != "tokens" && !spec.data.val.x.empty() && spec.data.val.y.empty())
    origins.fail("data.val.y", "expected the HDF5 dataset of the validation labels, got \"\" "
                               "(or set data.val.x: \"\" to run without validation)");

  const Expanded dir = expand_placeholders(spec.output.dir, spec);
  if (dir.error) origins.fail("output.dir", *dir.error);
}

}  // namespace mp
