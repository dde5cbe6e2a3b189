// grad_clip.cpp: global gradient norm and clipping.
#include "optim/grad_clip.h"

#include <cmath>

namespace mp {

double global_grad_norm(Backend& be, const ParamList& params) {
  double total = 0.0;
  for (const Parameter* p : params) total += be.sum_squares(p->grad);
  return std::sqrt(total);
}

double clip_grad_norm(Backend& be, const ParamList& params, double max_norm) {
  const double norm = global_grad_norm(be, params);
  if (max_norm > 0.0) {
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0)
      for (Parameter* p : params) be.scale(p->grad, static_cast<float>(coef));
  }
  return norm;
}

}  // namespace mp
