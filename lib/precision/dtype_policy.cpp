// dtype_policy.cpp: PrecisionSpec -> DTypePolicy, and the policy as the model builder takes it.
#include "precision/dtype_policy.h"

#include <initializer_list>

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

constexpr DType kPolicyDTypes[] = {DType::F32, DType::F16, DType::BF16};

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

AutoPolicy choose_auto_policy(const NativeLowPrecision& caps) {
  if (caps.bf16) return {DType::BF16, caps.detail};
  if (caps.gpu && caps.fp16) return {DType::F16, caps.detail + "; fp16 with dynamic loss scaling"};
  return {DType::F32, caps.detail};
}

std::string resolve_auto_policy(PrecisionSpec& spec, const NativeLowPrecision& caps) {
  if (spec.policy != "auto") return "";
  const AutoPolicy a = choose_auto_policy(caps);
  spec.policy = std::string(dtype_name(a.compute));
  if (spec.loss_scale.mode == "auto")
    spec.loss_scale.mode = loss_scale_mode_name(resolve_loss_scale("auto", a.compute));
  return "precision.policy auto -> " + spec.policy + " (loss scale " + spec.loss_scale.mode +
         "): " + a.reason;
}

DTypePolicy resolve_dtype_policy(const PrecisionSpec& spec) {
  DTypePolicy p;
  MP_CHECK(spec.policy != "auto",
           "precision.policy auto reached resolve_dtype_policy: resolve_auto_policy must run first");
  const std::optional<DType> compute = parse_policy_dtype(spec.policy);
  if (!compute)
    throw ConfigError("precision.policy: expected one of fp32, fp16, bf16, got \"" + spec.policy +
                      "\"");
  p.compute = *compute;
  if (spec.master_weights == "fp32")
    p.master = DType::F32;
  else if (spec.master_weights == "none")
    p.master = p.compute;  // pure low precision: the working tensor is the one updated
  else
    throw ConfigError("precision.master_weights: expected one of fp32, none, got \"" +
                      spec.master_weights + "\"");
  p.stochastic_rounding = p.master == DType::BF16;
  p.loss_scale = resolve_loss_scale(spec.loss_scale.mode, p.compute);
  p.allreduce = parse_choice("precision.allreduce_dtype", spec.allreduce_dtype,
                            {DType::F32, DType::BF16});
  p.fp32_layers = spec.fp32_layers;
  if (p.master == DType::F16)
    p.warning =
        "precision: policy fp16 with master_weights: none keeps the weights themselves in fp16 and "
        "rounds every update to nearest, so updates smaller than half an fp16 ulp of a weight "
        "(about 0.05% of its magnitude) are lost and fp16 has no stochastic rounding; expect "
        "training to stall. Prefer master_weights: fp32, or policy: bf16 with master_weights: none";
  return p;
}

std::optional<DType> parse_policy_dtype(std::string_view name) {
  for (DType t : kPolicyDTypes)
    if (dtype_name(t) == name) return t;
  return std::nullopt;
}

ModelOptions model_options(const DTypePolicy& policy, uint64_t seed) {
  ModelOptions o;
  o.compute = policy.compute;
  // Pure low precision keeps one copy in D. (fp32 with master_weights: none is plain fp32: the
  // builder keeps one fp32 tensor either way.)
  o.master_fp32 = policy.master == DType::F32;
  o.fp32_layers = policy.fp32_layers;
  o.seed = seed;
  return o;
}

}  // namespace mp
