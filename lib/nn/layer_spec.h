// layer_spec.h: a layer as the run spec describes it, and the catalog of layer types with their
// parameters (name, kind, default, range, doc). The catalog is the single source of truth: the
// config loader validates `model.layers` against it, the reference test checks it is documented,
// and the model builder reads the validated values.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace mp {

using ParamValue = std::variant<bool, int64_t, double, std::string>;

enum class ParamKind : uint8_t { Bool, Int, Float, Choice, String };

struct ParamDesc {
  std::string name;
  ParamKind kind;
  ParamValue def;           // default (ignored when required)
  bool required = false;
  double min = -1e300;      // inclusive bounds for Int/Float
  double max = 1e300;
  bool max_exclusive = false;
  std::vector<std::string> choices;  // for Choice
  std::string doc;
};

struct LayerDesc {
  std::string type;
  bool container = false;   // takes a list of layers (residual, sequential) instead of params
  std::vector<ParamDesc> params;
  std::string doc;
};

// Parameters every layer accepts: `name` (used in parameter names and fp32_layers) and
// `precision` (auto = the policy's compute dtype, fp32 = keep this layer in fp32).
const std::vector<ParamDesc>& common_layer_params();
const std::vector<LayerDesc>& layer_catalog();
const LayerDesc* find_layer_desc(std::string_view type);

// A validated layer: every param of its type present (defaults filled), children for containers.
struct LayerSpec {
  std::string type;
  std::map<std::string, ParamValue> params;
  std::vector<LayerSpec> children;
  std::string where;  // "run.yaml:12:5", for errors raised while building the model

  int64_t get_int(const std::string& k) const { return std::get<int64_t>(params.at(k)); }
  double get_float(const std::string& k) const { return std::get<double>(params.at(k)); }
  bool get_bool(const std::string& k) const { return std::get<bool>(params.at(k)); }
  const std::string& get_str(const std::string& k) const { return std::get<std::string>(params.at(k)); }
};

// A LayerSpec of `type` with every parameter at its default (required ones must then be set by
// the caller), for building models in code and tests.
LayerSpec default_layer_spec(std::string_view type);

}  // namespace mp
