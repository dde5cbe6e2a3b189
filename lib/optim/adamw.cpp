// adamw.cpp: AdamW's update of every parameter through Backend::adamw_step_multi.
#include "optim/adamw.h"

namespace mp {

void AdamW::update(Backend& be, const ParamList& params, std::vector<ParamUpdate>& ps, double lr,
                   const GradPrep& prep) {
  AdamWHyper h = h_;
  h.lr = static_cast<float>(lr);
  h.step = applied_steps() + 1;  // 1-based: this update's number
  for (size_t i = 0; i < ps.size(); ++i)
    ps[i].weight_decay = params[i]->decay ? h_.weight_decay : 0.0f;
  be.adamw_step_multi(ps, h, prep);
}

}  // namespace mp
