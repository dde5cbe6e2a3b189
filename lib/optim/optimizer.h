// optimizer.h: the Optimizer base (fp32 state in named slots per parameter, an applied-step
// counter, the update of master weights followed by the master -> working cast) and the factory
// that builds SGD or AdamW from the `optimizer:` spec.
//
// Rounding of the update: an fp32 master takes the fp32 result. A bf16 master (pure bf16,
// `master_weights: none`) rounds stochastically from Philox(seed', offset, element) where seed'
// is derived from the run seed and offset = (applied step << 24) | parameter index, so every
// (step, parameter) pair draws its own reproducible stream. An fp16 master rounds to nearest.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "nn/parameter.h"
#include "optim/optim_spec.h"

namespace mp {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual std::string type() const = 0;  // "sgd" | "adamw"
  // State slots held per parameter (fp32, the parameter's shape): the checkpoint groups
  // /optimizer/<slot>/<param>. SGD: {"momentum"} (none without momentum); AdamW:
  // {"exp_avg", "exp_avg_sq"}.
  virtual std::vector<std::string> slot_names() const = 0;

  // One applied update of every parameter's master from its fp32 grad with learning rate `lr`,
  // then working <- RNE(master) where they are distinct tensors; counts one applied step. `prep`
  // says how the gradients are read (unscale, clip) and whether they are zeroed afterwards: the
  // optimizer step's per-parameter passes fused into one (Backend::adamw_step_fused).
  void step(Backend& be, const ParamList& params, double lr, const GradPrep& prep = {});

  // Zeroed state for every parameter that has none yet (idempotent). step() calls it; a
  // checkpoint loader calls it before set_slot().
  void init_state(Backend& be, const ParamList& params);
  // Bytes of state held (every slot of every parameter with state).
  int64_t state_bytes() const;
  // Parameter names that have state, sorted.
  std::vector<std::string> param_names() const;
  // A slot of one parameter as host floats (the checkpoint writer). The slot and parameter must
  // exist (internal error otherwise).
  std::vector<float> get_slot(Backend& be, const std::string& slot, const std::string& param) const;
  // Restore a slot from host floats (the checkpoint loader): DataError naming
  // /optimizer/<slot>/<param> for an unknown slot or parameter or a size mismatch.
  void set_slot(Backend& be, const std::string& slot, const std::string& param,
                const std::vector<float>& values);

  // Applied (not skipped) updates so far: AdamW's bias-correction step count and the LR
  // schedule's position. Serialised with the optimizer state.
  int64_t applied_steps() const { return applied_steps_; }
  void set_applied_steps(int64_t n);

  // Stochastic rounding of bf16 masters (on by default; off = round to nearest, for ablations).
  void set_stochastic_rounding(bool on) { stochastic_ = on; }
  // The Rounding the next step() uses for parameter number `index` whose master has `dtype`.
  Rounding rounding_for(DType master_dtype, size_t index) const;

 protected:
  explicit Optimizer(uint64_t seed);
  // Update every parameter's master in place from its gradient read as `prep` says, in one
  // multi-tensor op (Backend::adamw_step_multi, ...): ps[i] is params[i]'s tensors (m, v: its
  // state slots in slot_names() order, null where there are fewer), rounding and working copy
  // (null when master is the working tensor); the optimizer sets each weight_decay.
  virtual void update(Backend& be, const ParamList& params, std::vector<ParamUpdate>& ps,
                      double lr, const GradPrep& prep) = 0;

 private:
  std::map<std::string, std::vector<Tensor>> state_;
  std::vector<ParamUpdate> updates_;  // step()'s list, reused (no allocation per step)
  int64_t applied_steps_ = 0;
  uint64_t rounding_seed_;
  bool stochastic_ = true;
};

// SGD (or AdamW) from the spec, validated (ConfigError naming optimizer.<key>). `seed` is the
// run seed, from which the stochastic-rounding stream is derived.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerSpec& spec, uint64_t seed);

}  // namespace mp
