// linear_fusion.h: which Linear layers do the work of a neighbouring gelu(tanh) layer
// (linear.h, activation.h): in every sequence (sequential, a residual's body, a
// transformer_block's parts), a "linear, gelu(tanh)" pair of one dtype fuses the gelu's forward
// into the Linear's GEMM (Backend::linear_gelu_forward), and a "gelu(tanh), linear" pair fuses
// the gelu's backward into the Linear's input-gradient GEMM (linear_dgelu_backward). The
// transformer_block's MLP (linear, gelu, linear) gets both. Only layers are linked: parameters,
// their names (checkpoints), the layer tree (summaries) and the CPU engine's bits are unchanged.
#pragma once
#include "nn/layer.h"

namespace mp {

// Links the pairs under `root` (a container; leaves are left alone). Returns the number of
// links made (each pair counts one).
int fuse_linear_gelu(Layer& root);

}  // namespace mp
