// precision_dtype_policy.cpp: PrecisionSpec -> DTypePolicy resolution and per-layer dtypes.
#include <doctest/doctest.h>

#include "core/error.h"
#include "precision/dtype_policy.h"

using namespace mp;

namespace {

PrecisionSpec spec(const char* policy, const char* master = "fp32") {
  PrecisionSpec s;
  s.policy = policy;
  s.master_weights = master;
  return s;
}

}  // namespace

TEST_CASE("fp32 policy: one fp32 tensor, no loss scaling") {
  const DTypePolicy p = resolve_dtype_policy(spec("fp32"));
  CHECK(p.compute == DType::F32);
  CHECK(p.master == DType::F32);
  CHECK_FALSE(p.separate_master());
  CHECK_FALSE(p.stochastic_rounding);
  CHECK(p.loss_scale == LossScaleMode::None);
  CHECK(p.warning.empty());
}

TEST_CASE("mixed fp16: fp32 master, dynamic loss scaling by default") {
  const DTypePolicy p = resolve_dtype_policy(spec("fp16"));
  CHECK(p.compute == DType::F16);
  CHECK(p.master == DType::F32);
  CHECK(p.separate_master());
  CHECK_FALSE(p.stochastic_rounding);
  CHECK(p.loss_scale == LossScaleMode::Dynamic);
  CHECK(p.warning.empty());
}

TEST_CASE("mixed bf16: fp32 master, no loss scaling by default") {
  const DTypePolicy p = resolve_dtype_policy(spec("bf16"));
  CHECK(p.compute == DType::BF16);
  CHECK(p.master == DType::F32);
  CHECK(p.separate_master());
  CHECK_FALSE(p.stochastic_rounding);
  CHECK(p.loss_scale == LossScaleMode::None);
}

TEST_CASE("pure bf16 rounds updates stochastically; pure fp16 warns") {
  const DTypePolicy b = resolve_dtype_policy(spec("bf16", "none"));
  CHECK(b.master == DType::BF16);
  CHECK_FALSE(b.separate_master());
  CHECK(b.stochastic_rounding);
  CHECK(b.warning.empty());
  const DTypePolicy h = resolve_dtype_policy(spec("fp16", "none"));
  CHECK(h.master == DType::F16);
  CHECK_FALSE(h.stochastic_rounding);
  CHECK(h.loss_scale == LossScaleMode::Dynamic);
  CHECK(h.warning.find("master_weights: fp32") != std::string::npos);
  // fp32 with master_weights: none is just fp32.
  CHECK(resolve_dtype_policy(spec("fp32", "none")).master == DType::F32);
}

TEST_CASE("explicit loss-scale modes override auto") {
  PrecisionSpec s = spec("bf16");
  s.loss_scale.mode = "static";
  CHECK(resolve_dtype_policy(s).loss_scale == LossScaleMode::Static);
  s = spec("fp16");
  s.loss_scale.mode = "none";
  CHECK(resolve_dtype_policy(s).loss_scale == LossScaleMode::None);
  s = spec("fp32");
  s.loss_scale.mode = "dynamic";
  CHECK(resolve_dtype_policy(s).loss_scale == LossScaleMode::Dynamic);
  CHECK(std::string(loss_scale_mode_name(LossScaleMode::Dynamic)) == "dynamic");
}

TEST_CASE("all-reduce dtype: fp32 only until multi-process training reads it") {
  PrecisionSpec s = spec("bf16");
  CHECK(resolve_dtype_policy(s).allreduce == DType::F32);
  s.allreduce_dtype = "bf16";
  CHECK_THROWS_WITH_AS(resolve_dtype_policy(s), doctest::Contains("precision.allreduce_dtype"),
                       ConfigError);
}

TEST_CASE("unknown spellings are config errors naming the key") {
  CHECK_THROWS_WITH_AS(resolve_dtype_policy(spec("fp8")), doctest::Contains("precision.policy"),
                       ConfigError);
  CHECK_THROWS_WITH_AS(resolve_dtype_policy(spec("bf16", "bf16")),
                       doctest::Contains("precision.master_weights"), ConfigError);
  PrecisionSpec s = spec("fp16");
  s.loss_scale.mode = "auto-ish";
  CHECK_THROWS_WITH_AS(resolve_dtype_policy(s), doctest::Contains("precision.loss_scale.mode"),
                       ConfigError);
  s = spec("fp16");
  s.allreduce_dtype = "fp16";
  CHECK_THROWS_AS(resolve_dtype_policy(s), ConfigError);
}

TEST_CASE("per-layer compute dtype: fp32_layers and the layer's precision param") {
  PrecisionSpec s = spec("bf16");
  s.fp32_layers = {"head", "embed"};
  const DTypePolicy p = resolve_dtype_policy(s);
  CHECK(layer_compute_dtype(p, "head", "auto") == DType::F32);
  CHECK(layer_compute_dtype(p, "layers.2", "auto") == DType::BF16);
  CHECK(layer_compute_dtype(p, "layers.2", "fp32") == DType::F32);
  CHECK(layer_compute_dtype(p, "", "auto") == DType::BF16);

  LayerSpec l;
  l.type = "linear";
  l.params["name"] = std::string("embed");
  l.params["precision"] = std::string("auto");
  CHECK(layer_compute_dtype(p, l) == DType::F32);
  l.params["name"] = std::string();
  CHECK(layer_compute_dtype(p, l) == DType::BF16);
  CHECK(layer_compute_dtype(p, l, "head") == DType::F32);  // positional / resolved name
  l.params["precision"] = std::string("fp32");
  CHECK(layer_compute_dtype(p, l) == DType::F32);
  // fp32 policy: everything fp32 regardless.
  CHECK(layer_compute_dtype(resolve_dtype_policy(spec("fp32")), "x", "auto") == DType::F32);
}
