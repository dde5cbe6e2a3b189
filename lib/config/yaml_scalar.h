// yaml_scalar.h: strict conversion of one YAML node to a spec value, checked against its Rule.
// Only YAML 1.2 core-schema spellings: integers [-+]?[0-9]+ (or a number with an exact integer
// value, like 1e4), numbers with '.' or an exponent, true/false. Never yes/no, hex, NaN or Inf, a
// quoted "5" for a number, or a value that does not fit (1e999, integers beyond int64).
// Each returns std::nullopt on success, else the message "expected ..., got ... (hint)".
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include <yaml-cpp/yaml.h>

#include "config/spec_rule.h"

namespace mp {

using ReadError = std::optional<std::string>;

ReadError read_int(const YAML::Node& n, const Rule& r, int64_t& out);
ReadError read_number(const YAML::Node& n, const Rule& r, double& out);
ReadError read_bool(const YAML::Node& n, bool& out);
ReadError read_string(const YAML::Node& n, const Rule& r, std::string& out);

}  // namespace mp
