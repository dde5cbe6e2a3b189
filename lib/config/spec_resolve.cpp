// spec_resolve.cpp: cross-field resolution and checks.
#include "config/spec_resolve.h"

#include "config/output_dir.h"

namespace mp {

void resolve_spec(RunSpec& spec, const SpecOrigins& origins) {
  auto& ls = spec.precision.loss_scale;
  if (ls.mode == "auto") ls.mode = spec.precision.policy == "fp16" ? "dynamic" : "none";

  const auto& opt = spec.optimizer;
  if (opt.nesterov && !(opt.momentum > 0))
    origins.fail("optimizer.nesterov", "expected false when optimizer.momentum is 0, got true "
                                       "(Nesterov needs momentum > 0; set optimizer.momentum)");

  if (!spec.data.val.x.empty() && spec.data.val.y.empty())
    origins.fail("data.val.y", "expected the HDF5 dataset of the validation labels, got \"\" "
                               "(or set data.val.x: \"\" to run without validation)");

  const Expanded dir = expand_placeholders(spec.output.dir, spec);
  if (dir.error) origins.fail("output.dir", *dir.error);
}

}  // namespace mp
