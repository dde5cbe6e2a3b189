// spec_overrides.cpp: parsing, checking and applying --set overrides.
#include "config/spec_overrides.h"

#include "config/did_you_mean.h"
#include "config/spec_keys.h"
#include "config/yaml_text.h"
#include "config/yaml_tree.h"
#include "core/error.h"

namespace mp {

namespace {

[[noreturn]] void fail_set(const std::string& key, const std::string& msg) {
  throw ConfigError("--set " + key + ": " + msg);
}

std::vector<std::string> split_path(const std::string& key) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    parts.push_back(key.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

bool is_index(const std::string& s) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

std::vector<std::string> all_paths() {
  std::vector<std::string> out;
  for (const auto& s : spec_sections()) out.push_back(s.path);
  for (const auto& k : spec_keys()) out.push_back(k.path);
  return out;
}

// Checks that `key` names something an override may set; throws a did-you-mean error otherwise.
void check_key(const std::string& key, const std::vector<std::string>& parts) {
  if (find_spec_key(key) || is_spec_section(key)) return;
  for (const auto& p : parts)
    if (p.empty()) fail_set(key, "expected a dotted key like optimizer.lr, got an empty component");
  if (key.rfind("model.layers.", 0) == 0 && is_index(parts[2])) return;  // checked when applied
  // A key below a leaf ("optimizer.lr.x"): say what the leaf is.
  std::string prefix;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    prefix = join_path(prefix, parts[i]);
    if (const SpecKeyInfo* k = find_spec_key(prefix))
      fail_set(key, prefix + " is a " + k->type + ", it has no keys inside");
  }
  fail_set(key, "unknown key" + did_you_mean(key, all_paths()) +
                    "; mptrain --print-reference lists every key");
}

// The child of a map named `name`, or an undefined node.
YAML::Node map_child(const YAML::Node& map, const std::string& name) {
  for (auto it = map.begin(); it != map.end(); ++it)
    if (it->first.IsScalar() && it->first.Scalar() == name) return it->second;
  return YAML::Node(YAML::NodeType::Undefined);
}

void apply_one(YAML::Node& root, const std::string& key, const std::vector<std::string>& parts,
               const YAML::Node& value) {
  YAML::Node cur;
  cur.reset(root);
  std::string walked;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& part = parts[i];
    const bool last = i + 1 == parts.size();
    if (cur.IsSequence()) {
      if (!is_index(part))
        fail_set(key, walked + " is a list; expected an item index after it, got \"" + part + "\"");
      const size_t idx = std::stoul(part);
      if (idx >= cur.size())
        fail_set(key, walked + " has " + std::to_string(cur.size()) +
                          (cur.size() == 1 ? " item" : " items") + ", so the index must be below " +
                          std::to_string(cur.size()));
      if (last) {
        cur[idx] = value;
        return;
      }
      YAML::Node next = cur[idx];
      cur.reset(next);
    } else if (cur.IsMap() || cur.IsNull()) {
      if (last) {
        cur[part] = value;
        return;
      }
      YAML::Node next = map_child(cur, part);
      if (!next.IsDefined()) {
        cur[part] = YAML::Node(YAML::NodeType::Map);
        next.reset(map_child(cur, part));
      }
      cur.reset(next);
    } else if (cur.IsScalar() && cur.Scalar() == part && !last) {
      // A bare layer name (`- linear`) given parameters: it becomes `- linear: {}` first.
      YAML::Node as_map(YAML::NodeType::Map);
      as_map[part] = YAML::Node(YAML::NodeType::Map);
      cur = as_map;  // yaml-cpp: assigning through the handle replaces the list item in place
      YAML::Node next = map_child(cur, part);
      cur.reset(next);
    } else {
      fail_set(key, walked + " is " + describe_got(cur) + ", not a map or list, so " + part +
                        " cannot be set inside it");
    }
    walked = join_path(walked, part);
  }
}

}  // namespace

void apply_overrides(YAML::Node& root, const std::vector<std::string>& sets, SpecOrigins& origins) {
  for (const auto& set : sets) {
    const size_t eq = set.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ConfigError("--set " + set + ": expected KEY=VALUE, like --set optimizer.lr=3e-4");
    const std::string key = set.substr(0, eq);
    const std::string text = set.substr(eq + 1);
    const std::vector<std::string> parts = split_path(key);
    check_key(key, parts);
    YAML::Node value;
    try {
      value = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      fail_set(key, "cannot parse the value " + quote_for_message(text) + " as YAML: " + e.msg);
    }
    origins.add_override(key);
    check_tree(value, key, origins);
    apply_one(root, key, parts, value);
  }
}

}  // namespace mp
