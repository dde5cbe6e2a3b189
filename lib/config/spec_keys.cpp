// spec_keys.cpp: the key list, built once by a listing visitor over a default RunSpec.
#include "config/spec_keys.h"

#include "config/spec_schema.h"
#include "config/spec_values.h"

namespace mp {

namespace {

struct Lister : SpecVisitor {
  std::vector<SpecKeyInfo> keys;
  std::vector<SpecSectionInfo> sections;
  void section(std::string_view path, std::string_view doc) override {
    sections.push_back({std::string(path), std::string(doc)});
  }
  void field(const FieldDef& def, FieldRef ref) override {
    SpecKeyInfo k;
    k.path = def.path;
    k.type = field_type_name(ref);
    k.required = def.rule.required;
    k.default_value = def.rule.required ? "" : field_value_text(ref);
    k.allowed = describe_allowed(def.rule);
    const bool list = k.type.rfind("list", 0) == 0;
    if (list && !k.allowed.empty() && k.allowed != "non-empty") k.allowed = "each " + k.allowed;
    k.doc = def.doc;
    keys.push_back(std::move(k));
  }
};

const Lister& listing() {
  static const Lister l = [] {
    Lister out;
    RunSpec defaults;
    visit_spec(out, defaults);
    return out;
  }();
  return l;
}

}  // namespace

const std::vector<SpecKeyInfo>& spec_keys() { return listing().keys; }
const std::vector<SpecSectionInfo>& spec_sections() { return listing().sections; }

const SpecKeyInfo* find_spec_key(std::string_view path) {
  for (const auto& k : spec_keys())
    if (k.path == path) return &k;
  return nullptr;
}

bool is_spec_section(std::string_view path) {
  for (const auto& s : spec_sections())
    if (s.path == path) return true;
  return false;
}

std::vector<std::string> spec_children(std::string_view section) {
  const std::string prefix = section.empty() ? "" : std::string(section) + ".";
  std::vector<std::string> out;
  auto add = [&](const std::string& path) {
    if (path.size() <= prefix.size() || path.compare(0, prefix.size(), prefix) != 0) return;
    std::string rest = path.substr(prefix.size());
    if (rest.find('.') != std::string::npos) return;
    for (const auto& o : out)
      if (o == rest) return;
    out.push_back(std::move(rest));
  };
  // Interleave keys and sections in schema order: a section comes right before its first key.
  for (const auto& k : spec_keys()) {
    for (const auto& s : spec_sections())
      if (k.path.compare(0, s.path.size() + 1, s.path + ".") == 0) add(s.path);
    add(k.path);
  }
  return out;
}

}  // namespace mp
