// dtype_policy.h: a PrecisionSpec resolved into the concrete dtypes and switches the rest of the
// system reads (docs/ARCHITECTURE.md "The precision contract"): the compute dtype D, where master
// weights live, whether pure-bf16 updates round stochastically, the loss-scale mode after `auto`,
// the gradient accumulation and all-reduce dtypes, and which layers are kept in fp32.
// resolve_dtype_policy is the one place the precision.* strings are read; everything below config
// (model builder, optimizer, scaler, trainer, checkpoint check, benchmarks) takes the typed policy.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/backend.h"  // NativeLowPrecision
#include "core/dtype.h"
#include "nn/model.h"
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
  DType grad_accum = DType::F32;  // parameter gradients accumulate in fp32 (not configurable)
  DType allreduce = DType::F32;   // gradient all-reduce payload: fp32 or bf16 (lossy)
  std::vector<std::string> fp32_layers;  // layer names kept in fp32 (per-layer override)
  std::string warning;  // non-empty when the policy is legal but risky (pure fp16): log it once

  // True when master and working weights are distinct tensors (mixed precision): the optimizer
  // writes the fp32 master and the working copy is re-cast from it after every step.
  bool separate_master() const { return master != compute; }
};

// precision.policy `auto`, decided from what the device computes natively: bf16 where its GEMMs
// run bf16 in hardware (GPUs from sm_80, CPUs with AVX512-BF16 or AMX-BF16), else fp16 on a GPU
// with fp16 tensor cores (sm_7x; loss_scale.mode auto then means dynamic), else fp32 (a CPU would
// only emulate 16-bit GEMMs). `reason` says why, for the log.
struct AutoPolicy {
  DType compute = DType::F32;
  std::string reason;
};
AutoPolicy choose_auto_policy(const NativeLowPrecision& caps);

// The one place `auto` is resolved: when spec.policy is "auto", replaces it by choose_auto_policy's
// choice and a loss_scale.mode "auto" by the mode that policy resolves it to, so the spec (and the
// config.yaml dumped from it) shows what runs. Returns the log line ("precision.policy auto -> bf16:
// this CPU has AVX512-BF16"), or "" when the policy was not auto. Call it once the backend exists,
// before resolve_dtype_policy.
std::string resolve_auto_policy(PrecisionSpec& spec, const NativeLowPrecision& caps);

// Resolve the spec; unknown spellings throw ConfigError naming the key (the config loader
// validates first, so this is the second line of defence for specs built in code; a policy still
// "auto" is refused: resolve_auto_policy comes first). This is also
// where loss_scale.mode `auto` is decided (config's resolve_spec writes the result back).
DTypePolicy resolve_dtype_policy(const PrecisionSpec& spec);

// A policy name ("fp32" | "fp16" | "bf16") -> its compute dtype, by the parser resolve_dtype_policy
// uses; nullopt for any other string. For policy names stored outside a spec (a checkpoint's
// `policy` attribute), so they are compared as dtypes.
std::optional<DType> parse_policy_dtype(std::string_view name);

// What the model builder needs from the policy (nn cannot include precision): D, whether masters
// are fp32, the fp32 layer set; plus the initialisation seed.
ModelOptions model_options(const DTypePolicy& policy, uint64_t seed);

}  // namespace mp
