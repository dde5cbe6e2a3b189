// checkpoint_read.cpp: one HDF5 file -> CheckpointData, validating everything before returning.
#include "checkpoint/checkpoint_hdf5.h"
#include "checkpoint/checkpoint_io.h"
#include "core/error.h"
#include "data/h5_attr.h"

namespace mp {

namespace {

// What a user can do about a checkpoint that fails to read.
constexpr const char* kAdvice =
    "; the file is corrupt, truncated or was not written by mptrain: resume from another "
    "checkpoint "
    "(--resume auto skips unreadable ones) or start a new run directory";

void read_tensors(hid_t group, const std::string& slot, const std::string& prefix,
                  std::vector<CheckpointTensor>& out) {
  for (const std::string& name : h5_link_names(group)) {
    CheckpointTensor t;
    t.slot = slot;
    t.name = name;
    try {
      read_f32_dataset(group, name, t.shape, t.values);
    } catch (const H5Failure& e) {
      throw H5Failure(prefix + name + ": " + e.what());
    }
    out.push_back(std::move(t));
  }
}

// The progress counters are redundant; disagreeing ones mean the file was damaged or edited, and
// resuming would put the schedule, the AdamW bias correction or the step count out of step.
void check_counters(const CheckpointData& d) {
  const int64_t skipped = d.scaler.total_skips;
  if (d.step < 0 || d.applied_steps < 0 || skipped < 0)
    throw H5Failure("its step counters are negative (step " + std::to_string(d.step) +
                    ", applied_steps " + std::to_string(d.applied_steps) +
                    ", /scaler/total_skips " + std::to_string(skipped) + ")");
  if (d.step != d.applied_steps + skipped)
    throw H5Failure("its step counters disagree: step " + std::to_string(d.step) +
                    " should be applied_steps " + std::to_string(d.applied_steps) +
                    " + /scaler/total_skips " + std::to_string(skipped) + " = " +
                    std::to_string(d.applied_steps + skipped));
  if (d.optimizer_step != d.applied_steps)
    throw H5Failure("the optimizer's step (attribute `step` of /optimizer) is " +
                    std::to_string(d.optimizer_step) + " but applied_steps is " +
                    std::to_string(d.applied_steps) + "; they should be equal");
}

void read_all(hid_t file, CheckpointData& d) {
  if (!h5_attr_exists(file, "format_version"))
    throw H5Failure("it has no format_version attribute, so it is not an mptrain checkpoint");
  int64_t version = h5_read_attr_i64(file, "format_version");
  if (version != kCheckpointFormatVersion)
    throw H5Failure("format_version is " + std::to_string(version) + ", this mptrain reads " +
                    std::to_string(kCheckpointFormatVersion) +
                    " (use the mptrain version named by its mptrain_version attribute)");
  if (!h5_attr_exists(file, "complete") || h5_read_attr_i64(file, "complete") != 1)
    throw H5Failure("it is incomplete (no `complete = 1` attribute): its write was interrupted");

  d.step = h5_read_attr_i64(file, "step");
  d.applied_steps = h5_read_attr_i64(file, "applied_steps");
  d.epoch = h5_read_attr_i64(file, "epoch");
  d.batch_in_epoch = h5_read_attr_i64(file, "batch_in_epoch");
  d.rng_seed = h5_read_attr_u64(file, "rng_seed");
  d.rng_offset = h5_read_attr_u64(file, "rng_offset");
  d.policy = h5_read_attr_str(file, "policy");
  d.config_text = h5_read_attr_str(file, "config");
  d.model_signature = h5_read_attr_str(file, "model_signature");
  d.mptrain_version = h5_read_attr_str(file, "mptrain_version");
  for (const std::string& name : h5_attr_names(file)) {
    if (is_reserved_checkpoint_attr(name)) continue;
    H5T_class_t cls = h5_attr_class(file, name);
    if (cls == H5T_STRING)
      d.extra_strings[name] = h5_read_attr_str(file, name);
    else if (cls == H5T_INTEGER)
      d.extra_ints[name] = h5_read_attr_i64(file, name);
    // Attributes of other types were added by someone else (h5py); they are not ours to keep.
  }

  for (const char* group : {"params", "optimizer", "scaler"})
    if (!h5_link_exists(file, group))
      throw H5Failure(std::string("group /") + group + " is missing");
  {
    H5Handle params = h5_open_group(file, "params");
    read_tensors(params.get(), "", "/params/", d.params);
  }
  {
    H5Handle opt = h5_open_group(file, "optimizer");
    d.optimizer_step = h5_read_attr_i64(opt.get(), "step");
    for (const std::string& slot : h5_link_names(opt.get())) {
      H5Handle g = h5_open_group(opt.get(), slot);
      read_tensors(g.get(), slot, "/optimizer/" + slot + "/", d.optimizer);
    }
  }
  {
    H5Handle sc = h5_open_group(file, "scaler");
    d.scaler.scale = read_scalar_f64(sc.get(), "scale");
    d.scaler.growth_tracker = read_scalar_i64(sc.get(), "growth_tracker");
    d.scaler.hysteresis_tracker = read_scalar_i64(sc.get(), "hysteresis_tracker");
    d.scaler.consecutive_skips = read_scalar_i64(sc.get(), "consecutive_skips");
    d.scaler.total_skips = read_scalar_i64(sc.get(), "total_skips");
  }
  check_counters(d);
}

}  // namespace

CheckpointData read_checkpoint(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw DataError("checkpoint " + path.string() + " does not exist or is not a regular file; " +
                    "check the path (a run's checkpoints are in <run dir>/checkpoints/, the newest named "
                    "by its `latest` file; training resumes from it with --resume auto)");
  h5_silence_errors();
  CheckpointData d;
  try {
    H5Handle fapl = checkpoint_file_access(false);
    H5Handle file = h5_check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()),
                             "it does not open as an HDF5 file");
    read_all(file.get(), d);
    file.close("closing the file");
  } catch (const H5Failure& e) {
    throw DataError("cannot load checkpoint " + path.string() + ": " + e.what() + kAdvice);
  }
  return d;
}

}  // namespace mp
