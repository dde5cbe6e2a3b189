// checkpoint_compat.h: does a checkpoint fit the model and policy about to train? A model signature
// is text, one "<name> <value>" line per entry; make_model_signature writes one line per parameter,
// "layers.0.weight [784, 128]", and callers may append their own lines (e.g. "layers.1 relu").
#pragma once
#include <string>
#include <vector>

#include "checkpoint/checkpoint_data.h"
#include "core/tensor.h"  // Shape
#include "nn/parameter.h"

namespace mp {

struct ParamShape {
  std::string name;
  Shape shape;
};

// "layers.0.weight [784, 128]\nlayers.0.bias [128]\n...", in the given order.
std::string make_model_signature(const std::vector<ParamShape>& params);
// The same from the model's parameters (master shapes).
std::string make_model_signature(const ParamList& params);

// The differences between two signatures, one line per entry ("layers.0.weight: the checkpoint has
// [784, 128], the model has [784, 256]"; entries only on one side), at most `max_lines` lines plus
// a count of the rest. Empty when they agree; entry order does not matter.
std::vector<std::string> signature_differences(const std::string& checkpoint_sig,
                                               const std::string& model_sig, size_t max_lines = 8);

// Throws DataError when the checkpoint's own /params disagree with its stored signature (a damaged
// or hand-edited file).
void check_signature_consistent(const CheckpointData& ckpt, const std::string& checkpoint_path);

// Throws ConfigError when a file's stored signature (a checkpoint's or an export file's, read from
// `path`) differs from the model's, listing the differences; the advice is for resuming or, with
// `for_eval`, for evaluating (which compares only the model, not the policy: any policy may
// evaluate any weights).
void check_same_model(const std::string& stored_signature, const std::string& path,
                      const std::string& model_signature, bool for_eval);

// Throws ConfigError when `ckpt` (read from `checkpoint_path`) was written for another model or
// precision policy (its compute dtype, DTypePolicy::compute), listing what differs and what to do;
// first check_signature_consistent.
void check_compatible(const CheckpointData& ckpt, const std::string& checkpoint_path,
                      const std::string& model_signature, DType policy_compute);

}  // namespace mp
