// linear_fusion.cpp: fuse_linear_gelu (linear_fusion.h).
#include "nn/linear_fusion.h"

#include "nn/activation.h"
#include "nn/linear.h"
#include "nn/sequential.h"

namespace mp {

namespace {

// A gelu the cuBLASLt epilogues compute: the tanh form only (GELU_AUX_BIAS / DGELU).
Activation* as_gelu_tanh(Layer* l) {
  auto* a = dynamic_cast<Activation*>(l);
  return a && a->act() == Act::GeluTanh ? a : nullptr;
}

// A Linear of dtype dt (a different dtype would cast between the two: no fusion).
Linear* as_linear(Layer* l, DType dt) {
  auto* lin = dynamic_cast<Linear*>(l);
  return lin && lin->dtype() == dt ? lin : nullptr;
}

}  // namespace

int fuse_linear_gelu(Layer& root) {
  // Only the containers whose children run one after another, each on the previous one's output.
  if (!dynamic_cast<Sequential*>(&root) && !dynamic_cast<Residual*>(&root)) return 0;
  const std::vector<Layer*> kids = root.children();
  int links = 0;
  for (size_t i = 0; i < kids.size(); ++i) {
    if (kids[i]->is_container()) {
      links += fuse_linear_gelu(*kids[i]);
      continue;
    }
    Activation* gelu = as_gelu_tanh(kids[i]);
    if (!gelu) continue;
    if (Linear* before = i > 0 ? as_linear(kids[i - 1], gelu->dtype()) : nullptr) {
      before->fuse_output_gelu(*gelu);
      ++links;
    }
    if (Linear* after = i + 1 < kids.size() ? as_linear(kids[i + 1], gelu->dtype()) : nullptr) {
      after->fuse_input_gelu(*gelu);
      ++links;
    }
  }
  return links;
}

}  // namespace mp
