// sgd.cpp: SGD slots and the update of every parameter through Backend::sgd_step_multi.
#include "optim/sgd.h"

namespace mp {

std::vector<std::string> Sgd::slot_names() const {
  if (h_.momentum == 0.0f) return {};
  return {"momentum"};
}

void Sgd::update(Backend& be, const ParamList& params, std::vector<ParamUpdate>& ps, double lr,
                 const GradPrep& prep) {
  SgdHyper h = h_;
  h.lr = static_cast<float>(lr);
  for (size_t i = 0; i < ps.size(); ++i)
    ps[i].weight_decay = params[i]->decay ? h_.weight_decay : 0.0f;
  be.sgd_step_multi(ps, h, prep);
}

}  // namespace mp
