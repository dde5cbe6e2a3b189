// spec_resolve.h: the cross-field step after every key is read: `auto` values resolved
// (precision.loss_scale.mode: dynamic for fp16, none otherwise) and combinations rejected that no
// single key's rule can see (nesterov without momentum, a validation split with x but no y,
// output.dir placeholders that name no key).
#pragma once
#include "config/run_spec.h"
#include "config/spec_origins.h"

namespace mp {

void resolve_spec(RunSpec& spec, const SpecOrigins& origins);

}  // namespace mp
