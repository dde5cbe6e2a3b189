// layer_parser.cpp: model.layers items → LayerSpec, against layer_catalog().
#include "config/layer_parser.h"

#include "config/did_you_mean.h"
#include "config/spec_rule.h"
#include "config/yaml_scalar.h"
#include "config/yaml_tree.h"

namespace mp {

namespace {

const char* const kItemHint =
    "write each item as a type (- relu) or a one-key map (- linear: {out: 512})";

std::vector<std::string> layer_types() {
  std::vector<std::string> out;
  for (const auto& d : layer_catalog()) out.push_back(d.type);
  return out;
}

const ParamDesc* find_param(const LayerDesc& d, const std::string& name) {
  for (const auto& p : d.params)
    if (p.name == name) return &p;
  for (const auto& p : common_layer_params())
    if (p.name == name) return &p;
  return nullptr;
}

std::vector<std::string> param_names(const LayerDesc& d) {
  std::vector<std::string> out;
  for (const auto& p : d.params) out.push_back(p.name);
  for (const auto& p : common_layer_params()) out.push_back(p.name);
  return out;
}

class LayerParser {
 public:
  explicit LayerParser(const SpecOrigins& o) : origins_(o) {}

  std::vector<LayerSpec> list(const YAML::Node& n, const std::string& path, const YAML::Mark& at,
                              int depth) {
    if (depth > kMaxLayerNesting)
      origins_.fail(path, at,
                    "containers nested more than " + std::to_string(kMaxLayerNesting) + " deep");
    if (!n.IsSequence())
      origins_.fail(path, at, "expected a list of layers, got " + describe_got(n) + "; " + kItemHint);
    if (n.size() == 0) origins_.fail(path, at, "expected a non-empty list of layers, got []");
    std::vector<LayerSpec> out;
    size_t i = 0;
    for (auto it = n.begin(); it != n.end(); ++it, ++i)
      out.push_back(item(*it, join_path(path, std::to_string(i)), depth));
    return out;
  }

 private:
  LayerSpec item(const YAML::Node& n, const std::string& path, int depth) {
    std::string type;
    YAML::Node body;  // the params map, the children list, or undefined for a bare type
    YAML::Node type_node;
    if (n.IsScalar()) {
      type = n.Scalar();
      type_node.reset(n);
    } else if (n.IsMap() && n.size() == 1) {
      auto it = n.begin();
      type = it->first.Scalar();
      type_node.reset(it->first);
      body.reset(it->second);
    } else if (n.IsMap()) {
      std::vector<std::string> keys;
      for (const auto& e : map_entries(n)) keys.push_back(e.key);
      origins_.fail(path, n.Mark(),
                    "expected one layer per item, got a map with " + std::to_string(keys.size()) +
                        " keys (" + join(keys) + "); " + kItemHint +
                        " and indent its parameters under it");
    } else {
      origins_.fail(path, n.Mark(), "expected a layer, got " + describe_got(n) + "; " + kItemHint);
    }

    const LayerDesc* desc = find_layer_desc(type);
    if (!desc)
      origins_.fail(path, type_node.Mark(),
                    "unknown layer type " + describe_got(type_node) +
                        did_you_mean(type, layer_types()) + "; known: " + join(layer_types()));

    LayerSpec spec;
    spec.type = type;
    spec.where = origins_.where(path, n.Mark());
    const std::string tpath = join_path(path, type);
    const YAML::Mark body_mark = body.IsDefined() && !body.IsNull() ? body.Mark() : type_node.Mark();
    if (desc->container) {
      if (!body.IsDefined() || body.IsNull())
        origins_.fail(tpath, body_mark,
                      "expected a list of layers, got an empty value, like - " + type +
                          ": [linear: {out: 512}, relu]");
      spec.children = list(body, tpath, body_mark, depth + 1);
      for (const auto& p : common_layer_params()) spec.params[p.name] = p.def;
      return spec;
    }
    if (body.IsDefined() && !body.IsNull() && !body.IsMap())
      origins_.fail(tpath, body_mark,
                    "expected a map of parameters, like - " + type + ": {" + example(*desc) +
                        "}, got " + describe_got(body));
    if (body.IsMap()) {
      for (const auto& e : map_entries(body)) {
        const ParamDesc* p = find_param(*desc, e.key);
        const std::string ppath = join_path(tpath, e.key);
        if (!p)
          origins_.fail(ppath, e.key_node.Mark(),
                        "unknown parameter of " + type + did_you_mean(e.key, param_names(*desc)) +
                            "; " + type + " takes: " + join(param_names(*desc)));
        spec.params[p->name] = value(*p, e, ppath);
      }
    }
    for (const auto* group : {&desc->params, &common_layer_params()}) {
      for (const auto& p : *group) {
        if (spec.params.count(p.name)) continue;
        if (p.required)
          origins_.fail(tpath, type_node.Mark(),
                        "missing required parameter \"" + p.name + "\" (" + p.doc + "), like - " +
                            type + ": {" + example(*desc) + "}");
        spec.params[p.name] = p.def;
      }
    }
    return spec;
  }

  ParamValue value(const ParamDesc& p, const MapEntry& e, const std::string& path) {
    const Rule r = rule_for(p);
    ReadError err;
    ParamValue out;
    switch (p.kind) {
      case ParamKind::Bool: {
        bool b = false;
        err = read_bool(e.value, b);
        out = b;
        break;
      }
      case ParamKind::Int: {
        int64_t i = 0;
        err = read_int(e.value, r, i);
        out = i;
        break;
      }
      case ParamKind::Float: {
        double d = 0;
        err = read_number(e.value, r, d);
        out = d;
        break;
      }
      case ParamKind::Choice:
      case ParamKind::String: {
        std::string s;
        err = read_string(e.value, r, s);
        out = s;
        break;
      }
    }
    if (err) origins_.fail(path, e.value_mark(), *err);
    return out;
  }

  // "out: 512" for linear: the required params with a sample value, else the first param.
  static std::string example(const LayerDesc& d) {
    for (const auto& p : d.params)
      if (p.required) return p.name + ": 512";
    if (d.params.empty()) return "name: " + d.type + "1";
    const ParamDesc& p = d.params.front();
    switch (p.kind) {
      case ParamKind::Bool: return p.name + ": " + (std::get<bool>(p.def) ? "true" : "false");
      case ParamKind::Int: return p.name + ": " + std::to_string(std::get<int64_t>(p.def));
      case ParamKind::Float: return p.name + ": 0.5";
      default: return p.name + ": " + (p.choices.empty() ? "x" : p.choices.back());
    }
  }

  const SpecOrigins& origins_;
};

}  // namespace

std::vector<LayerSpec> parse_layers(const YAML::Node& list, const std::string& path,
                                    const YAML::Mark& at, const SpecOrigins& origins) {
  LayerParser parser(origins);
  return parser.list(list, path, at, 0);
}

}  // namespace mp
