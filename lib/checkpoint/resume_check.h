// resume_check.h: may this run resume from that checkpoint? The checkpoint stores the resolved spec
// of the run that wrote it (its `config` attribute); every key the resume_keys.h table marks as
// state-bearing must have the same value in the spec about to resume, and the model must match
// the stored tensors (checkpoint_compat.h).
#pragma once
#include <cstdint>
#include <string>

#include "checkpoint/checkpoint_data.h"
#include "config/run_spec.h"
#include "data/batch.h"
#include "precision/dtype_policy.h"

namespace mp {

// Throws ConfigError (exit 2) naming EVERY refused difference between the checkpoint's stored spec
// and `spec` (key, value in the checkpoint, value in the spec, why it cannot change, what to do);
// with `model_signature` given, parameter shape differences are listed too. Throws DataError
// (exit 3) when the stored config does not load. A checkpoint without stored config text (written
// by hand, e.g. in tests) is checked by the model signature and policy only. `policy`: `spec`'s
// precision section resolved (resolve_dtype_policy).
// `world_size`: this run's number of ranks; the checkpoint's is its world_size attribute (1 when
// absent). data.batch_size may then change so that data.batch_size x world_size stays the same.
void check_resume(const CheckpointData& ck, const std::string& checkpoint_path, const RunSpec& spec,
                  const DTypePolicy& policy, const std::string& model_signature,
                  int64_t world_size = 1);

// The checkpoint's world_size attribute: the ranks of the run that wrote it (1 when absent: every
// checkpoint before multi-process runs).
int64_t checkpoint_world_size(const CheckpointData& ck);

// Where this run (world_size ranks of spec.data.batch_size samples) continues the checkpoint's
// epoch. Rank r's batch b holds positions r + W x (b x B + i) of the epoch order, so the first b
// batches of every rank together are positions [0, b x B x W) whatever W is: the cursor carries
// over exactly when the global batch B x W is unchanged, and otherwise when the samples already
// consumed (b x B x W) are a whole number of the new global batches. Any other resume in the
// middle of an epoch would see samples twice or never: ConfigError (exit 2) saying which world
// sizes fit. At an epoch boundary (batch 0) every world size fits.
LoaderCursor resume_cursor(const CheckpointData& ck, const std::string& checkpoint_path,
                           const RunSpec& spec, int64_t world_size);

// What `mptrain --resume` prints when the checkpoint is already at (or past) the last step:
// "run already finished at step 30 (train.steps: 30); nothing to do - raise train.steps to
// continue".
std::string finished_run_message(int64_t checkpoint_step, int64_t total_steps, const RunSpec& spec);

}  // namespace mp
