// evaluate.h: one pass over a split in eval mode (no dropout, no gradients): mean loss and, for
// classification, accuracy. Used by the trainer's periodic evaluation and by `mptrain eval`.
// Data parallel (`comm` with world_size > 1): each rank evaluates its strided shard of the split
// (padding rows removed) and the sums are added over ranks in fp64, so every rank returns the
// whole split's result.
#pragma once
#include <optional>
#include <string>

#include "backend/backend.h"
#include "config/run_spec.h"
#include "data/data_spec.h"
#include "data/split.h"
#include "data/token_stream.h"
#include "dist/communicator.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "checkpoint/weights_file.h"
#include "precision/dtype_policy.h"
#include "train/trainer.h"

namespace mp {

EvalResult evaluate(Backend& be, Model& model, Loss& loss, std::shared_ptr<const Split> split,
                    const DataSpec& data, dist::Communicator* comm = nullptr);
// data.format: tokens: the non-overlapping windows of data.context tokens of the stream, in order
// (token_windows.h); the loss is per token.
EvalResult evaluate(Backend& be, Model& model, Loss& loss, std::shared_ptr<const TokenStream> tokens,
                    const DataSpec& data, dist::Communicator* comm = nullptr);

// `mptrain eval`: the parameters of `file` (a checkpoint or an export file, weights_file.h) on the
// validation split, on spec.device, in the SPEC's precision policy whatever policy trained them
// (fp32 masters from the stored values, working copies rounded to its dtype: low-precision
// inference); only the model must match the file. With `compare_fp32`, the same weights are also
// evaluated in fp32.
struct EvalReport {
  EvalResult result;               // in the spec's policy
  std::optional<EvalResult> fp32;  // compare_fp32
  std::string policy;              // the policy evaluated in (auto resolved)
  std::string auto_choice;         // the log line of policy auto, "" otherwise
  std::string trained_policy;      // stored in the file
  DType stored = DType::F32;       // the file's parameter dtype
};
EvalReport evaluate_weights(const RunSpec& spec, const std::string& file, bool compare_fp32);

// The model of `spec` built in `policy` for per-sample input `in_shape`, with the parameters of
// `w` (read from `file`, a checkpoint or export file: read_weights_any): fp32 masters set from the
// stored values, working copies rounded to the policy's dtype, as training would hold them.
// ConfigError naming `file` when the file holds another model. (mptrain eval, mptrain sample.)
std::unique_ptr<Model> build_model_with_weights(Backend& be, const RunSpec& spec,
                                                const DTypePolicy& policy, const Shape& in_shape,
                                                const WeightsData& w, const std::string& file);
// evaluate_weights(spec, checkpoint, false).result
EvalResult evaluate_checkpoint(const RunSpec& spec, const std::string& checkpoint);

}  // namespace mp
