// layer_dtype.h: the per-layer precision rule, in one place. nn sits below precision, so the model
// builder receives the resolved policy as plain values (the compute dtype and the fp32 layer set,
// in ModelOptions, which precision's model_options(DTypePolicy) fills) and applies this rule.
#pragma once
#include <string>
#include <vector>

#include "core/dtype.h"
#include "nn/layer_spec.h"

namespace mp {

// The dtype a layer computes in: fp32 when the layer's own `precision` parameter is fp32 or
// `name` (its `name:`, or its position "layers.3" when it has none) is listed in fp32_layers;
// otherwise the policy's compute dtype.
DType layer_compute_dtype(DType compute, const std::vector<std::string>& fp32_layers,
                          const LayerSpec& layer, const std::string& name);

}  // namespace mp
