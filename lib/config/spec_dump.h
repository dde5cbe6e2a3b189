// spec_dump.h: the resolved spec as canonical YAML: every key (defaults filled) in schema order,
// layers one per line in flow style (`- linear: {out: 512, bias: true, ...}`), numbers
// shortest-round-trip. Loading the text back gives a spec that dumps to the identical text; it is
// what the run directory's config.yaml holds and what --print-config prints.
#pragma once
#include <string>
#include <vector>

#include "config/run_spec.h"

namespace mp {

std::string dump_spec(const RunSpec& spec);

// One layer as the dump writes it inside `model.layers` (without the leading "- ").
std::string dump_layer_flow(const LayerSpec& layer);

}  // namespace mp
