// spec_dump.cpp: the dumping visitor (sections opened from the dotted paths) and the layer writer.
#include "config/spec_dump.h"

#include <sstream>

#include "config/spec_schema.h"
#include "config/yaml_text.h"

namespace mp {

namespace {

std::string param_text(const ParamValue& v) {
  struct Text {
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return yaml_number(d); }
    std::string operator()(const std::string& s) const { return yaml_string(s); }
  };
  return std::visit(Text{}, v);
}

// Params in catalog order (the type's own, then the common ones); anything else after, sorted.
std::string params_flow(const LayerSpec& l) {
  std::vector<std::string> order;
  if (const LayerDesc* d = find_layer_desc(l.type))
    for (const auto& p : d->params) order.push_back(p.name);
  for (const auto& p : common_layer_params()) order.push_back(p.name);
  for (const auto& [k, v] : l.params) {
    bool listed = false;
    for (const auto& o : order) listed = listed || o == k;
    if (!listed) order.push_back(k);
  }
  std::string out = "{";
  bool first = true;
  for (const auto& name : order) {
    auto it = l.params.find(name);
    if (it == l.params.end()) continue;
    out += (first ? "" : ", ") + yaml_string(name) + ": " + param_text(it->second);
    first = false;
  }
  return out + "}";
}

void write_layers(std::ostringstream& os, const std::vector<LayerSpec>& layers, int indent) {
  const std::string pad(static_cast<size_t>(indent), ' ');
  for (const auto& l : layers) {
    if (l.children.empty()) {
      os << pad << "- " << dump_layer_flow(l) << "\n";
    } else {
      os << pad << "- " << yaml_string(l.type) << ":\n";
      write_layers(os, l.children, indent + 4);
    }
  }
}

template <class T, class F>
std::string flow_list(const std::vector<T>& v, F text) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + text(v[i]);
  return s + "]";
}

class Dumper : public SpecVisitor {
 public:
  std::ostringstream os;

  void section(std::string_view, std::string_view) override {}

  void field(const FieldDef& def, FieldRef ref) override {
    const std::string_view path = def.path;
    const size_t dot = path.rfind('.');
    open_sections(dot == std::string_view::npos ? std::string_view() : path.substr(0, dot));
    const std::string key(dot == std::string_view::npos ? path : path.substr(dot + 1));
    os << pad() << key << ":";
    std::visit([this](auto* v) { write(*v); }, ref);
  }

 private:
  // Emits "name:" headers for the sections of `section` not open yet.
  void open_sections(std::string_view section) {
    std::vector<std::string> want;
    for (size_t start = 0; start < section.size();) {
      size_t dot = section.find('.', start);
      if (dot == std::string_view::npos) dot = section.size();
      want.emplace_back(section.substr(start, dot - start));
      start = dot + 1;
    }
    size_t common = 0;
    while (common < open_.size() && common < want.size() && open_[common] == want[common]) ++common;
    open_.resize(common);
    for (size_t i = common; i < want.size(); ++i) {
      os << pad() << want[i] << ":\n";
      open_.push_back(want[i]);
    }
  }
  std::string pad() const { return std::string(2 * open_.size(), ' '); }

  void write(int64_t v) { os << " " << v << "\n"; }
  void write(double v) { os << " " << yaml_number(v) << "\n"; }
  void write(bool v) { os << " " << (v ? "true" : "false") << "\n"; }
  void write(const std::string& v) { os << " " << yaml_string(v) << "\n"; }
  void write(const std::vector<int64_t>& v) {
    os << " " << flow_list(v, [](int64_t x) { return std::to_string(x); }) << "\n";
  }
  void write(const std::vector<std::string>& v) {
    os << " " << flow_list(v, [](const std::string& x) { return yaml_string(x); }) << "\n";
  }
  void write(const std::vector<LayerSpec>& v) {
    if (v.empty()) {
      os << " []\n";
      return;
    }
    os << "\n";
    write_layers(os, v, static_cast<int>(2 * open_.size() + 2));
  }

  std::vector<std::string> open_;
};

}  // namespace

std::string dump_layer_flow(const LayerSpec& l) {
  return yaml_string(l.type) + ": " + params_flow(l);
}

std::string dump_spec(const RunSpec& spec) {
  Dumper d;
  d.os << "# mptrain resolved run spec: every key, defaults filled; load it to rerun the same run\n";
  RunSpec copy = spec;
  visit_spec(d, copy);
  return d.os.str();
}

}  // namespace mp
