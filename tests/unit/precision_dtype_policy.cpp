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

TEST_CASE("all-reduce dtype: fp32 (default) or bf16, nothing else") {
  PrecisionSpec s = spec("bf16");
  CHECK(resolve_dtype_policy(s).allreduce == DType::F32);
  s.allreduce_dtype = "bf16";
  CHECK(resolve_dtype_policy(s).allreduce == DType::BF16);
  s.allreduce_dtype = "fp8";
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

TEST_CASE("loss_scale.mode auto resolves per policy: dynamic for fp16 only, whatever the masters") {
  for (const char* master : {"fp32", "none"}) {
    CHECK(resolve_dtype_policy(spec("fp32", master)).loss_scale == LossScaleMode::None);
    CHECK(resolve_dtype_policy(spec("bf16", master)).loss_scale == LossScaleMode::None);
    CHECK(resolve_dtype_policy(spec("fp16", master)).loss_scale == LossScaleMode::Dynamic);
  }
  // Gradients accumulate in fp32 under every policy.
  for (const char* policy : {"fp32", "fp16", "bf16"})
    CHECK(resolve_dtype_policy(spec(policy)).grad_accum == DType::F32);
}

TEST_CASE("policy names parse to their compute dtype, by the parser the policy uses") {
  CHECK(parse_policy_dtype("fp32") == DType::F32);
  CHECK(parse_policy_dtype("fp16") == DType::F16);
  CHECK(parse_policy_dtype("bf16") == DType::BF16);
  CHECK_FALSE(parse_policy_dtype("int32").has_value());  // a dtype, but no policy
  CHECK_FALSE(parse_policy_dtype("FP16").has_value());
  CHECK_FALSE(parse_policy_dtype("").has_value());
}

TEST_CASE("model_options carries the policy to the builder: D, masters, the fp32 layer set") {
  PrecisionSpec s = spec("bf16");
  s.fp32_layers = {"head"};
  const ModelOptions mixed = model_options(resolve_dtype_policy(s), 11);
  CHECK(mixed.compute == DType::BF16);
  CHECK(mixed.master_fp32);
  CHECK(mixed.fp32_layers == std::vector<std::string>{"head"});
  CHECK(mixed.seed == 11);
  CHECK_FALSE(model_options(resolve_dtype_policy(spec("bf16", "none")), 0).master_fp32);
  CHECK_FALSE(model_options(resolve_dtype_policy(spec("fp16", "none")), 0).master_fp32);

  // Built: master none -> one tensor per weight, in D (pure low precision); the fp32 layer has
  // one fp32 tensor; mixed precision has an fp32 master and a working copy in D.
  auto be = make_cpu_backend(1);
  LayerSpec body = default_layer_spec("linear");
  body.params["out"] = int64_t{4};
  LayerSpec head = default_layer_spec("linear");
  head.params["out"] = int64_t{2};
  head.params["name"] = std::string("head");
  body.where = head.where = "test";
  s.master_weights = "none";
  auto pure = Model::build(*be, {body, head}, {3}, model_options(resolve_dtype_policy(s), 1));
  const Parameter* w = pure->find_param("layers.0.weight");
  CHECK(w->master.dtype() == DType::BF16);
  CHECK(w->working.raw() == w->master.raw());
  CHECK(pure->find_param("head.weight")->master.dtype() == DType::F32);
  CHECK(pure->find_param("head.weight")->working.dtype() == DType::F32);
  s.master_weights = "fp32";
  auto mix = Model::build(*be, {body, head}, {3}, model_options(resolve_dtype_policy(s), 1));
  CHECK(mix->find_param("layers.0.weight")->master.dtype() == DType::F32);
  CHECK(mix->find_param("layers.0.weight")->working.dtype() == DType::BF16);
}

// ---- precision.policy auto (resolve_auto_policy / choose_auto_policy) ----------------------------

namespace {

NativeLowPrecision caps(bool gpu, bool bf16, bool fp16, const char* detail) {
  NativeLowPrecision c;
  c.gpu = gpu;
  c.bf16 = bf16;
  c.fp16 = fp16;
  c.detail = detail;
  return c;
}

}  // namespace

TEST_CASE("policy auto: bf16 where native, fp16 + dynamic scaling on sm_7x, fp32 on emulating CPUs") {
  struct Case {
    NativeLowPrecision c;
    const char* policy;
    const char* mode;  // loss_scale.mode auto resolves to
  };
  const Case cases[] = {
      {caps(false, true, false, "this CPU has AVX512-BF16"), "bf16", "none"},
      {caps(false, false, false, "this CPU has neither"), "fp32", "none"},
      {caps(true, false, true, "T4, sm_75 has fp16 but no bf16 tensor cores"), "fp16", "dynamic"},
      {caps(true, true, true, "A100, sm_80 has bf16 tensor cores"), "bf16", "none"},
      {caps(true, false, false, "sm_61 has no fp16 or bf16 tensor cores"), "fp32", "none"},
  };
  for (const Case& k : cases) {
    CAPTURE(k.c.detail);
    PrecisionSpec s = spec("auto");
    const std::string line = resolve_auto_policy(s, k.c);
    CHECK(s.policy == k.policy);
    CHECK(s.loss_scale.mode == k.mode);
    CHECK(line.find(std::string("auto -> ") + k.policy) != std::string::npos);
    CHECK(line.find(k.c.detail) != std::string::npos);  // the reason is in the log line
    CHECK(resolve_dtype_policy(s).compute == *parse_policy_dtype(k.policy));
  }
}

TEST_CASE("policy auto keeps an explicit loss-scale mode; a fixed policy is left alone") {
  PrecisionSpec s = spec("auto");
  s.loss_scale.mode = "static";
  resolve_auto_policy(s, caps(true, false, true, "sm_75"));
  CHECK(s.policy == "fp16");
  CHECK(s.loss_scale.mode == "static");
  PrecisionSpec f = spec("fp16");
  CHECK(resolve_auto_policy(f, caps(false, true, false, "cpu")).empty());
  CHECK(f.policy == "fp16");
  CHECK(f.loss_scale.mode == "auto");
}

TEST_CASE("policy auto must be resolved before resolve_dtype_policy") {
  CHECK_THROWS_AS(resolve_dtype_policy(spec("auto")), InternalError);
}
