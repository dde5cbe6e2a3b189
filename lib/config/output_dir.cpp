// output_dir.cpp: placeholder expansion over the schema's scalar keys.
#include "config/output_dir.h"

#include <map>

#include "config/did_you_mean.h"
#include "config/spec_schema.h"
#include "config/yaml_text.h"
#include "core/error.h"

namespace mp {

namespace {

// path -> value text for every scalar key of the spec; list keys map to nullopt.
struct ScalarValues : SpecVisitor {
  std::map<std::string, std::optional<std::string>, std::less<>> values;
  void section(std::string_view, std::string_view) override {}
  void field(const FieldDef& def, FieldRef ref) override {
    struct Text {
      std::optional<std::string> operator()(int64_t* v) const { return std::to_string(*v); }
      std::optional<std::string> operator()(double* v) const { return yaml_number(*v); }
      std::optional<std::string> operator()(bool* v) const { return *v ? "true" : "false"; }
      std::optional<std::string> operator()(std::string* v) const { return *v; }
      std::optional<std::string> operator()(std::vector<int64_t>*) const { return std::nullopt; }
      std::optional<std::string> operator()(std::vector<std::string>*) const { return std::nullopt; }
      std::optional<std::string> operator()(std::vector<LayerSpec>*) const { return std::nullopt; }
    };
    values[std::string(def.path)] = std::visit(Text{}, ref);
  }
};

}  // namespace

Expanded expand_placeholders(const std::string& tmpl, const RunSpec& spec) {
  ScalarValues sv;
  RunSpec copy = spec;
  visit_spec(sv, copy);
  Expanded out;
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl[i] == '}') {
      out.error = "unmatched '}' in " + quote_for_message(tmpl);
      return out;
    }
    if (tmpl[i] != '{') {
      out.text += tmpl[i++];
      continue;
    }
    const size_t close = tmpl.find('}', i);
    if (close == std::string::npos) {
      out.error = "unclosed '{' in " + quote_for_message(tmpl) + "; placeholders look like {name}";
      return out;
    }
    const std::string key = tmpl.substr(i + 1, close - i - 1);
    auto it = sv.values.find(key);
    if (it == sv.values.end()) {
      std::vector<std::string> keys;
      for (const auto& [k, v] : sv.values)
        if (v) keys.push_back(k);
      out.error = "unknown placeholder {" + key + "}" + did_you_mean(key, keys) +
                  "; use {name}, {seed} or any {section.key}";
      return out;
    }
    if (!it->second) {
      out.error = "placeholder {" + key + "} names a list; only single values can be placed";
      return out;
    }
    out.text += *it->second;
    i = close + 1;
  }
  return out;
}

std::string expand_output_dir(const RunSpec& spec) {
  Expanded e = expand_placeholders(spec.output.dir, spec);
  if (e.error) throw ConfigError("output.dir: " + *e.error);
  return e.text;
}

}  // namespace mp
