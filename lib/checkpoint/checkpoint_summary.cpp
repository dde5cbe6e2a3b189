#include "checkpoint/checkpoint_summary.h"

#include <hdf5.h>

#include <sstream>

#include "checkpoint/checkpoint_hdf5.h"
#include "checkpoint/checkpoint_io.h"
#include "core/error.h"

namespace mp {

namespace {

bool has_format_version(const std::string& path) {
  return h5_probe_file(path, [](hid_t f) { return H5Aexists(f, "format_version") > 0; });
}

}  // namespace

std::optional<std::string> describe_checkpoint(const std::string& path) {
  if (!has_format_version(path)) return std::nullopt;
  std::ostringstream o;
  try {
    const CheckpointData ck = read_checkpoint(path);
    int64_t n = 0;
    for (const auto& t : ck.params) n += shape_numel(t.shape);
    o << "checkpoint: step " << ck.step << " (" << ck.applied_steps << " applied, "
      << ck.scaler.total_skips << " skipped), epoch " << ck.epoch << " batch " << ck.batch_in_epoch
      << "\n  policy " << ck.policy << ", loss scale " << ck.scaler.scale << " (growth tracker "
      << ck.scaler.growth_tracker << ", hysteresis " << ck.scaler.hysteresis_tracker << ")"
      << "\n  " << ck.params.size() << " parameter tensors, " << n << " parameters; "
      << ck.optimizer.size() << " optimizer tensors; written by mptrain " << ck.mptrain_version
      << "\n  complete and checksums verified\n\n";
  } catch (const Error& e) {
    o << "checkpoint: NOT LOADABLE: " << e.what() << "\n\n";
  }
  return o.str();
}

}  // namespace mp
