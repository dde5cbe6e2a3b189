// spec_resolve.h: the cross-field step after every key is read: `auto` values resolved
// (precision.loss_scale.mode, by the policy's own rule in precision/dtype_policy.h: dynamic for
// fp16, none otherwise) and combinations rejected that no single key's rule can see (a dynamic
// loss scale starting below its min_scale, nesterov without momentum, a validation split with x
// but no y, output.dir placeholders that name no key).
#pragma once
#include "config/run_spec.h"
#include "config/spec_origins.h"

namespace mp {

void resolve_spec(RunSpec& spec, const SpecOrigins& origins);

}  // namespace mp
