// sgd.cpp: SGD slots and per-parameter update through Backend::sgd_step_fused.
#include "optim/sgd.h"

namespace mp {

std::vector<std::string> Sgd::slot_names() const {
  if (h_.momentum == 0.0f) return {};
  return {"momentum"};
}

void Sgd::update(Backend& be, Parameter& p, std::vector<Tensor>& slots, double lr,
                 const Rounding& r, const GradPrep& prep, Tensor* working) {
  SgdHyper h = h_;
  h.lr = static_cast<float>(lr);
  if (!p.decay) h.weight_decay = 0.0f;
  be.sgd_step_fused(p.master, p.grad, slots.empty() ? nullptr : &slots[0], h, r, prep, working);
}

}  // namespace mp
