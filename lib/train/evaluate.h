// evaluate.h: one pass over a split in eval mode (no dropout, no gradients): mean loss and, for
// classification, accuracy. Used by the trainer's periodic evaluation and by `mptrain eval`.
#pragma once
#include "backend/backend.h"
#include "data/data_spec.h"
#include "data/split.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "train/trainer.h"

namespace mp {

EvalResult evaluate(Backend& be, Model& model, Loss& loss, std::shared_ptr<const Split> split,
                    const DataSpec& data);

// Evaluate the parameters of `checkpoint` on the validation split (`mptrain eval`), on spec.device.
EvalResult evaluate_checkpoint(const RunSpec& spec, const std::string& checkpoint);

}  // namespace mp
