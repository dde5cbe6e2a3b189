// resume_check.h: may this run resume from that checkpoint? The checkpoint stores the resolved spec
// of the run that wrote it (its `config` attribute); every key the resume_keys.h table marks as
// state-bearing must have the same value in the spec about to resume, and the model must match
// the stored tensors (checkpoint_compat.h).
#pragma once
#include <cstdint>
#include <string>

#include "checkpoint/checkpoint_data.h"
#include "config/run_spec.h"
#include "precision/dtype_policy.h"

namespace mp {

// Throws ConfigError (exit 2) naming EVERY refused difference between the checkpoint's stored spec
// and `spec` (key, value in the checkpoint, value in the spec, why it cannot change, what to do);
// with `model_signature` given, parameter shape differences are listed too. Throws DataError
// (exit 3) when the stored config does not load. A checkpoint without stored config text (written
// by hand, e.g. in tests) is checked by the model signature and policy only. `policy`: `spec`'s
// precision section resolved (resolve_dtype_policy).
void check_resume(const CheckpointData& ck, const std::string& checkpoint_path, const RunSpec& spec,
                  const DTypePolicy& policy, const std::string& model_signature);

// What `mptrain --resume` prints when the checkpoint is already at (or past) the last step:
// "run already finished at step 30 (train.steps: 30); nothing to do - raise train.steps to
// continue".
std::string finished_run_message(int64_t checkpoint_step, int64_t total_steps, const RunSpec& spec);

}  // namespace mp
