// dtype_policy.cpp: PrecisionSpec -> DTypePolicy, and the per-layer compute dtype.
#include "precision/dtype_policy.h"

#include <algorithm>
#include <initializer_list>
#include <variant>

#include "core/error.h"

namespace mp {

const char* loss_scale_mode_name(LossScaleMode m) {
  switch (m) {
    case LossScaleMode::None: return "none";
    case LossScaleMode::Static: return "static";
    case LossScaleMode::Dynamic: return "dynamic";
  }
  return "?";
}

namespace {

DType parse_choice(const std::string& key, const std::string& value,
                   std::initializer_list<DType> allowed) {
  std::string names;
  for (DType t : allowed) {
    if (dtype_name(t) == value) return t;
    names += (names.empty() ? "" : ", ") + std::string(dtype_name(t));
  }
  throw ConfigError(key + ": expected one of " + names + ", got \"" + value + "\"");
}

LossScaleMode resolve_loss_scale(const std::string& mode, DType compute) {
  if (mode == "auto") return compute == DType::F16 ? LossScaleMode::Dynamic : LossScaleMode::None;
  if (mode == "dynamic") return LossScaleMode::Dynamic;
  if (mode == "static") return LossScaleMode::Static;
  if (mode == "none") return LossScaleMode::None;
  throw ConfigError("precision.loss_scale.mode: expected one of auto, dynamic, static, none, got \"" +
                    mode + "\"");
}

}  // namespace

DTypePolicy resolve_dtype_policy(const PrecisionSpec& spec) {
  DTypePolicy p;
  p.compute = parse_choice("precision.policy", spec.policy, {DType::F32, DType::F16, DType::BF16});
  if (spec.master_weights == "fp32")
    p.master = DType::F32;
  else if (spec.master_weights == "none")
    p.master = p.compute;  // pure low precision: the working tensor is the one updated
  else
    throw ConfigError("precision.master_weights: expected one of fp32, none, got \"" +
                      spec.master_weights + "\"");
  p.stochastic_rounding = p.master == DType::BF16;
  p.loss_scale = resolve_loss_scale(spec.loss_scale.mode, p.compute);
  p.allreduce = parse_choice("precision.allreduce_dtype", spec.allreduce_dtype, {DType::F32});
  p.fp32_layers = spec.fp32_layers;
  if (p.master == DType::F16)
    p.warning =
        "precision: policy fp16 with master_weights: none keeps the weights themselves in fp16 and "
        "rounds every update to nearest, so updates smaller than half an fp16 ulp of a weight "
        "(about 0.05% of its magnitude) are lost and fp16 has no stochastic rounding; expect "
        "training to stall. Prefer master_weights: fp32, or policy: bf16 with master_weights: none";
  return p;
}

DType layer_compute_dtype(const DTypePolicy& policy, const std::string& layer_name,
                          const std::string& layer_precision) {
  if (layer_precision == "fp32") return DType::F32;
  if (!layer_name.empty() &&
      std::find(policy.fp32_layers.begin(), policy.fp32_layers.end(), layer_name) !=
          policy.fp32_layers.end())
    return DType::F32;
  return policy.compute;
}

DType layer_compute_dtype(const DTypePolicy& policy, const LayerSpec& layer,
                          const std::string& resolved_name) {
  auto str_param = [&](const char* key) -> std::string {
    const auto it = layer.params.find(key);
    if (it == layer.params.end()) return "";
    const auto* s = std::get_if<std::string>(&it->second);
    return s ? *s : "";
  };
  const std::string name = resolved_name.empty() ? str_param("name") : resolved_name;
  return layer_compute_dtype(policy, name, str_param("precision"));
}

}  // namespace mp
