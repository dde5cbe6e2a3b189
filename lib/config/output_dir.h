// output_dir.h: the run directory from `output.dir`, with its placeholders filled from the
// resolved spec: {name}, {seed} and any scalar key {section.key} ({precision.policy},
// {train.accum_steps}, {optimizer.lr} -> 0.001). Numbers are written as the dump writes them.
#pragma once
#include <optional>
#include <string>

#include "config/run_spec.h"

namespace mp {

// spec.output.dir with every placeholder filled; ConfigError "output.dir: ..." on an unknown
// placeholder, a list-valued key or an unclosed brace.
std::string expand_output_dir(const RunSpec& spec);

// `tmpl` with placeholders filled from `spec`, or the reason it cannot be (no location prefix).
struct Expanded {
  std::string text;
  std::optional<std::string> error;
};
Expanded expand_placeholders(const std::string& tmpl, const RunSpec& spec);

}  // namespace mp
