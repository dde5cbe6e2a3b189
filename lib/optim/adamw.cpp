// adamw.cpp: AdamW per-parameter update through Backend::adamw_step_fused.
#include "optim/adamw.h"

namespace mp {

void AdamW::update(Backend& be, Parameter& p, std::vector<Tensor>& slots, double lr,
                   const Rounding& r, const GradPrep& prep, Tensor* working) {
  AdamWHyper h = h_;
  h.lr = static_cast<float>(lr);
  h.step = applied_steps() + 1;  // 1-based: this update's number
  if (!p.decay) h.weight_decay = 0.0f;
  be.adamw_step_fused(p.master, p.grad, slots[0], slots[1], h, r, prep, working);
}

}  // namespace mp
