// yaml_input.h: from a path or bytes to a parsed YAML tree, with a clear ConfigError for every way
// that can fail: missing or unreadable file, a directory, a file too large, binary bytes, invalid
// UTF-8, a YAML syntax error (FILE:LINE:COL from yaml-cpp), several documents, an empty spec, or
// a top level that is not a map.
#pragma once
#include <cstddef>
#include <string>

#include <yaml-cpp/yaml.h>

namespace mp {

constexpr size_t kMaxSpecBytes = 16u << 20;

// The whole file, or ConfigError ("FILE: cannot read the spec: ...").
std::string read_spec_file(const std::string& path);

// The top-level map of the (single) YAML document in `text`; `source` names it in messages.
YAML::Node parse_spec_text(const std::string& text, const std::string& source);

}  // namespace mp
