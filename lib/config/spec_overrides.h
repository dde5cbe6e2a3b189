// spec_overrides.h: --set KEY=VALUE overrides, applied to the parsed YAML tree after the file and
// before validation, so an override is checked exactly like the file. KEY is a dotted path of the
// schema (a key, or a whole section given as a flow map), or points into model.layers by index
// (model.layers.2.linear.out, model.layers.2); VALUE is parsed as YAML (scalar, [flow list] or
// {flow map}). Errors name "--set KEY" instead of a file position.
#pragma once
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/spec_origins.h"

namespace mp {

// Applies each "KEY=VALUE" in order to `root` (a map) and records it in `origins`.
void apply_overrides(YAML::Node& root, const std::vector<std::string>& sets, SpecOrigins& origins);

}  // namespace mp
