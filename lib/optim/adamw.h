// adamw.h: AdamW (Loshchilov & Hutter; PyTorch semantics, math in kernels/optim_update.h) with
// bias correction from the optimizer's own applied-step count and decoupled weight decay applied
// only where Parameter::decay.
#pragma once
#include "optim/optimizer.h"

namespace mp {

class AdamW final : public Optimizer {
 public:
  AdamW(const AdamWHyper& hyper, uint64_t seed) : Optimizer(seed), h_(hyper) {}
  std::string type() const override { return "adamw"; }
  std::vector<std::string> slot_names() const override { return {"exp_avg", "exp_avg_sq"}; }

 protected:
  void update(Backend& be, const ParamList& params, std::vector<ParamUpdate>& ps, double lr,
              const GradPrep& prep) override;

 private:
  AdamWHyper h_;  // lr and step unused: the schedule and the step counter supply them
};

}  // namespace mp
