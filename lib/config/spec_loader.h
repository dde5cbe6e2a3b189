// spec_loader.h: load a run spec. YAML file (or text) -> --set overrides -> every key read and
// checked against the schema (spec_schema.cpp) -> cross-field resolution -> RunSpec.
// Every problem is one mp::ConfigError (exit 2) of the form
//   FILE:LINE:COL: KEY.PATH: expected ..., got "..." (hint / did you mean "...")
// (or "--set KEY: ..." for an override). The data file is not opened here.
#pragma once
#include <string>
#include <vector>

#include "config/run_spec.h"

namespace mp {

// `overrides` are "KEY=VALUE" strings as given to --set, applied in order after the file.
RunSpec load_spec(const std::string& path, const std::vector<std::string>& overrides = {});

// The same from text; `source_name` stands for the file name in messages and in spec.source.
RunSpec load_spec_from_string(const std::string& text, const std::string& source_name,
                              const std::vector<std::string>& overrides = {});

}  // namespace mp
