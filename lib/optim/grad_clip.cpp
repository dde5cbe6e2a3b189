// grad_clip.cpp: global gradient norm and clipping.
#include "optim/grad_clip.h"

#include <cmath>

namespace mp {

double global_grad_norm(Backend& be, const ParamList& params) {
  double total = 0.0;
  for (const Parameter* p : params) total += be.sum_squares(p->grad);
  return std::sqrt(total);
}

bool clip_coefficient(double norm, double max_norm, float& coef) {
  if (max_norm <= 0.0) return false;
  const double c = max_norm / (norm + 1e-6);
  if (!(c < 1.0)) return false;
  coef = static_cast<float>(c);
  return true;
}

double clip_grad_norm(Backend& be, const ParamList& params, double max_norm) {
  const double norm = global_grad_norm(be, params);
  float coef = 1.0f;
  if (clip_coefficient(norm, max_norm, coef))
    for (Parameter* p : params) be.scale(p->grad, coef);
  return norm;
}

}  // namespace mp
