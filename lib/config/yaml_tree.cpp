// yaml_tree.cpp: the strict tree walk and map access.
#include "config/yaml_tree.h"

#include <map>

#include "config/yaml_text.h"

namespace mp {

YAML::Mark MapEntry::value_mark() const {
  return (value.IsNull() || !value.IsDefined()) ? key_node.Mark() : value.Mark();
}

std::string join_path(std::string_view parent, std::string_view child) {
  if (parent.empty()) return std::string(child);
  return std::string(parent) + "." + std::string(child);
}

bool is_plain_scalar(const YAML::Node& n) { return n.IsScalar() && n.Tag() == "?"; }

std::string describe_got(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "an empty value";
  if (n.IsMap()) return "a map";
  if (n.IsSequence()) return "a list";
  return quote_for_message(n.Scalar());
}

namespace {

struct Walker {
  const SpecOrigins& origins;
  long visited = 0;

  void walk(const YAML::Node& n, const std::string& path, int depth) {
    if (++visited > kMaxNodes)
      origins.fail(path, n.Mark(),
                   "the spec is too large (more than " + std::to_string(kMaxNodes) +
                       " values once aliases are expanded)");
    if (depth > kMaxDepth)
      origins.fail(path.substr(0, 80) + (path.size() > 80 ? "..." : ""), n.Mark(),
                   "nested more than " + std::to_string(kMaxDepth) +
                       " levels deep (a recursive alias?)");
    if (n.IsSequence()) {
      size_t i = 0;
      for (auto it = n.begin(); it != n.end(); ++it, ++i)
        walk(*it, join_path(path, std::to_string(i)), depth + 1);
    } else if (n.IsMap()) {
      std::map<std::string, YAML::Mark> seen;
      for (auto it = n.begin(); it != n.end(); ++it) {
        const YAML::Node k = it->first;  // a copy: `it->` yields a temporary proxy
        if (!k.IsScalar())
          origins.fail(path, k.Mark(), "expected a key name, got " + describe_got(k) + " as a key");
        const std::string& name = k.Scalar();
        const std::string child = join_path(path, name);
        auto [pos, fresh] = seen.emplace(name, k.Mark());
        if (!fresh)
          origins.fail(child, k.Mark(),
                       "duplicate key (first given on line " + std::to_string(pos->second.line + 1) +
                           "); give each key once");
        walk(it->second, child, depth + 1);
      }
    }
  }
};

}  // namespace

void check_tree(const YAML::Node& node, const std::string& path, const SpecOrigins& origins) {
  Walker w{origins};
  w.walk(node, path, 0);
}

std::vector<MapEntry> map_entries(const YAML::Node& map) {
  std::vector<MapEntry> out;
  if (!map.IsMap()) return out;
  for (auto it = map.begin(); it != map.end(); ++it)
    out.push_back(MapEntry{it->first.Scalar(), it->first, it->second});
  return out;
}

}  // namespace mp
