// sgd.h: SGD with optional momentum and Nesterov momentum and L2 weight decay (PyTorch semantics,
// dampening 0; math in kernels/optim_update.h). Decay applies only where Parameter::decay.
#pragma once
#include "optim/optimizer.h"

namespace mp {

class Sgd final : public Optimizer {
 public:
  Sgd(const SgdHyper& hyper, uint64_t seed) : Optimizer(seed), h_(hyper) {}
  std::string type() const override { return "sgd"; }
  std::vector<std::string> slot_names() const override;

 protected:
  void update(Backend& be, const ParamList& params, std::vector<ParamUpdate>& ps, double lr,
              const GradPrep& prep) override;

 private:
  SgdHyper h_;  // lr unused: the schedule supplies it per step
};

}  // namespace mp
