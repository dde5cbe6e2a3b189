// evaluate.h: one pass over a split in eval mode (no dropout, no gradients): mean loss and, for
// classification, accuracy. Used by the trainer's periodic evaluation and by `mptrain eval`.
// Data parallel (`comm` with world_size > 1): each rank evaluates its strided shard of the split
// (padding rows removed) and the sums are added over ranks in fp64, so every rank returns the
// whole split's result.
#pragma once
#include "backend/backend.h"
#include "data/data_spec.h"
#include "data/split.h"
#include "dist/communicator.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "train/trainer.h"

namespace mp {

EvalResult evaluate(Backend& be, Model& model, Loss& loss, std::shared_ptr<const Split> split,
                    const DataSpec& data, dist::Communicator* comm = nullptr);

}  // namespace mp
