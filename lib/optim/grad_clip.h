// grad_clip.h: the global L2 norm over all fp32 gradients and clipping by it (PyTorch
// clip_grad_norm_: multiply by min(1, max_norm / (norm + 1e-6))). Per-tensor sums of squares come
// from Backend::sum_squares and are combined in fp64.
#pragma once
#include "backend/backend.h"
#include "nn/parameter.h"

namespace mp {

// sqrt(sum over parameters of sum(grad^2)), in fp64.
double global_grad_norm(Backend& be, const ParamList& params);

// Scales every gradient by min(1, max_norm / (norm + 1e-6)) when max_norm > 0 (0 = off) and
// returns the norm before clipping.
double clip_grad_norm(Backend& be, const ParamList& params, double max_norm);

// The factor clip_grad_norm multiplies the gradients by, as fp32, or nothing (false) when it
// leaves them alone (clipping off, or norm within max_norm).
bool clip_coefficient(double norm, double max_norm, float& coef);

}  // namespace mp
