// spec_values.h: every key of a run spec with its value as the dump writes it ("0.001", "fp16",
// "[784]"), in schema order, so two specs can be compared key by key (resume checks what changed
// against the spec stored in a checkpoint) and a key's default can be shown.
#pragma once
#include <string>
#include <vector>

#include "config/run_spec.h"
#include "config/spec_visitor.h"

namespace mp {

// The value behind `ref` as YAML text; layers as one flow list, containers with their children
// ("[linear: {out: 32, ...}, residual: [gelu: {}]]").
std::string field_value_text(const FieldRef& ref);

// One layer (and its children) as flow text, as field_value_text writes it inside the list.
std::string layer_value_text(const LayerSpec& layer);

struct SpecValue {
  std::string path;  // "optimizer.lr"
  std::string text;  // "0.001"
};

// Every key of `spec` in schema order.
std::vector<SpecValue> spec_values(const RunSpec& spec);

}  // namespace mp
