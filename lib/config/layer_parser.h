// layer_parser.h: `model.layers` (a YAML list) → validated LayerSpecs, checked against the layer
// catalog of nn/layer_spec.h. An item is a bare type (`- relu`) or a one-key map
// (`- linear: {out: 512}`, `- residual: [ ...layers... ]`). Unknown types and params (with
// did-you-mean), wrong kinds, out-of-range values, missing required params and containers given
// a non-list are ConfigErrors; every param of the type is filled (defaults), `where` is recorded.
#pragma once
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/spec_origins.h"
#include "nn/layer_spec.h"

namespace mp {

constexpr int kMaxLayerNesting = 16;

// `list` is the node at `path` ("model.layers"), written at `at`; paths of items are
// "model.layers.3.linear.out".
std::vector<LayerSpec> parse_layers(const YAML::Node& list, const std::string& path,
                                    const YAML::Mark& at, const SpecOrigins& origins);

}  // namespace mp
