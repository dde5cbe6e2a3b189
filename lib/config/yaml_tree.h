// yaml_tree.h: reading yaml-cpp trees the strict way. check_tree() walks a parsed tree once and
// rejects what yaml-cpp 0.7 lets through: duplicate keys, keys that are lists or maps, nesting
// deeper than kMaxDepth (recursive aliases) and alias bombs (more than kMaxNodes nodes). After it,
// map_entries() gives a map's entries in file order, and describe_got() says what a node is in
// "got ..." messages.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/spec_origins.h"

namespace mp {

constexpr int kMaxDepth = 64;
constexpr long kMaxNodes = 200000;

struct MapEntry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
  // Where the value is: its own mark, or the key's when the value is empty (yaml-cpp gives an
  // empty value the position of the next token).
  YAML::Mark value_mark() const;
};

// Throws ConfigError on a duplicate key, a non-scalar or empty key, too deep or too large a tree.
// `path` names `node` in messages ("" for the root).
void check_tree(const YAML::Node& node, const std::string& path, const SpecOrigins& origins);

// The entries of a (checked) map, in file order.
std::vector<MapEntry> map_entries(const YAML::Node& map);

// `"fast"` (a scalar, quoted and cut for the message), `a map`, `a list`, `an empty value`.
std::string describe_got(const YAML::Node& n);

// True for a scalar written without quotes or tag (so `5` is a number and `"5"` a string).
bool is_plain_scalar(const YAML::Node& n);

// "a.b" + "c" -> "a.b.c"; "" + "c" -> "c".
std::string join_path(std::string_view parent, std::string_view child);

}  // namespace mp
