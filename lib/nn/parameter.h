// parameter.h: one trainable tensor with its fp32 master copy, its working copy in the compute
// dtype, and its fp32 gradient accumulator (DESIGN.md "Precision semantics").
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"

namespace mp {

struct Parameter {
  std::string name;  // "layers.3.weight": the checkpoint key /params/<name>
  Tensor master;     // fp32 master values; with master_weights: none, the working tensor itself
  Tensor working;    // what forward/backward read (compute dtype); same tensor as master for fp32
  Tensor grad;       // fp32, accumulated across micro-batches (GEMMs write with beta = 1)
  bool decay = true; // weight decay applies (false for biases and normalisation parameters)
};

using ParamList = std::vector<Parameter*>;

}  // namespace mp
