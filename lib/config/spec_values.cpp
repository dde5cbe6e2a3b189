// spec_values.cpp: a visitor that records each key's value text.
#include "config/spec_values.h"

#include "config/spec_dump.h"
#include "config/spec_schema.h"
#include "config/yaml_text.h"

namespace mp {

namespace {

template <class T, class F>
std::string flow_list(const std::vector<T>& v, F text) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + text(v[i]);
  return s + "]";
}

struct ValueText {
  std::string operator()(int64_t* v) const { return std::to_string(*v); }
  std::string operator()(double* v) const { return yaml_number(*v); }
  std::string operator()(bool* v) const { return *v ? "true" : "false"; }
  std::string operator()(std::string* v) const { return yaml_string(*v); }
  std::string operator()(std::vector<int64_t>* v) const {
    return flow_list(*v, [](int64_t x) { return std::to_string(x); });
  }
  std::string operator()(std::vector<std::string>* v) const {
    return flow_list(*v, [](const std::string& x) { return yaml_string(x); });
  }
  std::string operator()(std::vector<LayerSpec>* v) const { return flow_list(*v, layer_value_text); }
};

struct Recorder : SpecVisitor {
  std::vector<SpecValue> values;
  void section(std::string_view, std::string_view) override {}
  void field(const FieldDef& def, FieldRef ref) override {
    values.push_back({std::string(def.path), field_value_text(ref)});
  }
};

}  // namespace

std::string field_value_text(const FieldRef& ref) { return std::visit(ValueText{}, ref); }

std::string layer_value_text(const LayerSpec& layer) {
  if (layer.children.empty()) return dump_layer_flow(layer);
  return yaml_string(layer.type) + ": " + flow_list(layer.children, layer_value_text);
}

std::vector<SpecValue> spec_values(const RunSpec& spec) {
  Recorder r;
  RunSpec copy = spec;  // the visitor takes non-const references
  visit_spec(r, copy);
  return std::move(r.values);
}

}  // namespace mp
