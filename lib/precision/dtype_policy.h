// dtype_policy.h: a PrecisionSpec resolved into the concrete dtypes and switches the rest of the
// system reads (DESIGN.md "Precision semantics"): the compute dtype D, where master weights live,
// whether pure-bf16 updates round stochastically, the loss-scale mode after `auto`, the gradient
// accumulation and all-reduce dtypes, and which layers are kept in fp32.
#pragma once
#include <string>
#include <vector>

#include "core/dtype.h"
#include "nn/layer_spec.h"
#include "precision/precision_spec.h"

namespace mp {

enum class LossScaleMode : uint8_t { None, Static, Dynamic };

// "none" | "static" | "dynamic": the spelling used in specs, metrics and logs.
const char* loss_scale_mode_name(LossScaleMode m);

struct DTypePolicy {
  DType compute = DType::F32;  // D: activations, working weights, GEMM inputs
  // The dtype the optimizer updates: fp32 (fp32 policy, or mixed with fp32 master weights), or D
  // itself for pure low precision (`master_weights: none`).
  DType master = DType::F32;
  // Pure bf16: weight updates round stochastically (Philox), so small updates are not lost.
  bool stochastic_rounding = false;
  LossScaleMode loss_scale = LossScaleMode::None;  // `auto` resolved: dynamic for fp16, else none
  DType allreduce = DType::F32;   // gradient all-reduce payload
  std::vector<std::string> fp32_layers;  // layer names kept in fp32 (per-layer override)
  std::string warning;  // non-empty when the policy is legal but risky (pure fp16): log it once

  // True when master and working weights are distinct tensors (mixed precision): the optimizer
  // writes the fp32 master and the working copy is re-cast from it after every step.
  bool separate_master() const { return master != compute; }
};

// Resolve the spec; unknown spellings throw ConfigError naming the key (the config loader
// validates first, so this is the second line of defence for specs built in code).
DTypePolicy resolve_dtype_policy(const PrecisionSpec& spec);

// The dtype a layer computes in: fp32 when `layer_name` is listed in fp32_layers or the layer's
// own `precision` parameter is "fp32"; otherwise the policy's compute dtype.
DType layer_compute_dtype(const DTypePolicy& policy, const std::string& layer_name,
                          const std::string& layer_precision);
// Same, reading `precision` from a validated LayerSpec. The name matched against fp32_layers is
// `resolved_name` when given (a layer without `name:` is called by its position, "layers.3"),
// else the layer's `name` parameter.
DType layer_compute_dtype(const DTypePolicy& policy, const LayerSpec& layer,
                          const std::string& resolved_name = "");

}  // namespace mp
