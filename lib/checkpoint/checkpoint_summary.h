// checkpoint_summary.h: the header `mptrain inspect` prints above the raw listing when the file is
// a checkpoint: step, data cursor, policy, loss scale and skips, parameter tensors and count.
#pragma once
#include <optional>
#include <string>

namespace mp {

// nullopt when `path` is not a checkpoint (no root attribute format_version). For a checkpoint
// that does not read back completely, the summary says so and why, instead of throwing.
std::optional<std::string> describe_checkpoint(const std::string& path);

}  // namespace mp
