// parameter.h: one trainable tensor with its fp32 master copy, its working copy in the compute
// dtype, and its fp32 gradient accumulator (docs/ARCHITECTURE.md "The precision contract").
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"

namespace mp {

struct Parameter {
  std::string name;  // "layers.3.weight": the checkpoint key /params/<name>
  Tensor master;     // fp32 master values; with master_weights: none, the working tensor itself
  Tensor working;    // what forward/backward read (compute dtype); same tensor as master for fp32
  Tensor grad;       // fp32, accumulated across micro-batches (GEMMs write with beta = 1);
                     // undefined (no buffer) while frozen
  bool decay = true; // weight decay applies (false for biases and normalisation parameters)
  bool frozen = false;  // optimizer.freeze: no gradient, no optimizer state (freeze_parameter)
  // Which stochastic-rounding stream the optimizer draws from (optim/optimizer.cpp): by default
  // (-1) the parameter's own index in the list it updates; a ZeRO-1 piece (a view of part of a
  // parameter) names its whole parameter's index and the piece's first element, so its bits are
  // the ones the whole parameter's update draws.
  int64_t rounding_index = -1;
  int64_t rounding_first = 0;

  // A layer's backward computes this parameter's gradient only when true: the pattern every layer
  // follows, `if (w_.trainable()) <weight-gradient op>`, so a frozen weight costs no GEMM.
  bool trainable() const { return !frozen; }
};

using ParamList = std::vector<Parameter*>;

}  // namespace mp

namespace mp {

class Backend;

// Allocates a parameter: fp32 master (unless `master_fp32` is false and `working` is not fp32, in
// which case the working tensor is the only copy), a working copy in `working` (the master
// itself for fp32), and a zeroed fp32 gradient.
Parameter make_parameter(Backend& be, std::string name, const Shape& shape, DType working,
                         bool master_fp32, bool decay);
// Sets the parameter from fp32 values held in `values_f32` (same shape): master and working.
void set_parameter_values(Backend& be, Parameter& p, const Tensor& values_f32);
// working <- RNE(master) where they are distinct tensors.
void sync_working(Backend& be, Parameter& p);
// Marks `p` frozen and releases its gradient buffer (its values stay: forward, checkpoints, export).
void freeze_parameter(Parameter& p);

}  // namespace mp
