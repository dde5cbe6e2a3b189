#include "nn/layer_dtype.h"

#include <algorithm>
#include <optional>
#include <variant>

namespace mp {

namespace {

// The layer's `precision` parameter as a dtype: fp32, or nothing for "auto" (and for a spec
// built in code without the parameter).
std::optional<DType> own_precision(const LayerSpec& layer) {
  const auto it = layer.params.find("precision");
  if (it == layer.params.end()) return std::nullopt;
  const auto* s = std::get_if<std::string>(&it->second);
  return s ? parse_dtype(*s) : std::nullopt;
}

}  // namespace

DType layer_compute_dtype(DType compute, const std::vector<std::string>& fp32_layers,
                          const LayerSpec& layer, const std::string& name) {
  if (own_precision(layer) == DType::F32) return DType::F32;
  if (!name.empty() && std::find(fp32_layers.begin(), fp32_layers.end(), name) != fp32_layers.end())
    return DType::F32;
  return compute;
}

}  // namespace mp
