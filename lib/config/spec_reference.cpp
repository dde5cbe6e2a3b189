// spec_reference.cpp: markdown tables of keys (from spec_keys()) and layers (from the catalog).
#include "config/spec_reference.h"

#include <sstream>

#include "config/did_you_mean.h"
#include "config/spec_keys.h"
#include "config/spec_rule.h"
#include "config/yaml_text.h"
#include "nn/layer_spec.h"

namespace mp {

namespace {

// Table cells: pipes escaped, empty shown as a dash.
std::string cell(const std::string& s) {
  if (s.empty()) return "-";
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else out += c;
  }
  return out;
}

std::string code(const std::string& s) { return s.empty() ? "-" : "`" + cell(s) + "`"; }

std::string section_of(const std::string& path) {
  const size_t dot = path.rfind('.');
  return dot == std::string::npos ? "" : path.substr(0, dot);
}

std::string kind_name(ParamKind k) {
  switch (k) {
    case ParamKind::Bool: return "bool";
    case ParamKind::Int: return "integer";
    case ParamKind::Float: return "number";
    case ParamKind::Choice: return "choice";
    case ParamKind::String: return "string";
  }
  return "?";
}

std::string default_text(const ParamDesc& p) {
  if (p.required) return "";
  struct Text {
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return yaml_number(d); }
    std::string operator()(const std::string& s) const { return yaml_string(s); }
  };
  return std::visit(Text{}, p.def);
}

void param_rows(std::ostringstream& os, const std::vector<ParamDesc>& params) {
  os << "| param | type | default | allowed | meaning |\n|---|---|---|---|---|\n";
  for (const auto& p : params) {
    os << "| `" << p.name << "` | " << kind_name(p.kind) << " | "
       << (p.required ? "**required**" : code(default_text(p))) << " | "
       << cell(describe_allowed(rule_for(p))) << " | " << cell(p.doc) << " |\n";
  }
}

}  // namespace

std::string reference_markdown() {
  std::ostringstream os;
  os << "## Keys\n";
  // One table per section, holding the keys directly inside it; the top level first.
  std::vector<SpecSectionInfo> sections{{"", "name, seed, device, threads"}};
  for (const auto& s : spec_sections()) sections.push_back(s);
  for (const auto& sec : sections) {
    os << "\n### " << (sec.path.empty() ? std::string("Top level") : "`" + sec.path + "`") << " - "
       << sec.doc << "\n\n";
    os << "| key | type | default | allowed | meaning |\n|---|---|---|---|---|\n";
    for (const auto& k : spec_keys()) {
      if (section_of(k.path) != sec.path) continue;
      os << "| `" << k.path << "` | " << k.type << " | "
         << (k.required ? "**required**" : code(k.default_value)) << " | " << cell(k.allowed)
         << " | " << cell(k.doc) << " |\n";
    }
  }
  os << "\n## Layers\n\nTypes: ";
  std::vector<std::string> types;
  for (const auto& d : layer_catalog()) types.push_back("`" + d.type + "`");
  os << join(types) << ".\n";
  for (const auto& d : layer_catalog()) {
    os << "\n### `" << d.type << "`" << (d.container ? " (container)" : "") << " - " << d.doc
       << "\n\n";
    if (d.container)
      os << "Takes a list of layers: `- " << d.type << ": [linear: {out: 64}, relu]`.\n";
    else if (d.params.empty())
      os << "No parameters of its own (the common ones below apply).\n";
    else
      param_rows(os, d.params);
  }
  os << "\n### Parameters every layer accepts (containers take only their list)\n\n";
  param_rows(os, common_layer_params());
  return os.str();
}

}  // namespace mp
