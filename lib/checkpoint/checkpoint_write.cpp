// checkpoint_write.cpp: CheckpointData -> one HDF5 file in the layout of checkpoint_io.h.
#include <set>

#include "checkpoint/checkpoint_hdf5.h"
#include "checkpoint/checkpoint_io.h"
#include "core/error.h"
#include "data/h5_attr.h"

namespace mp {

namespace {

// Names become HDF5 link names: '/' would create nested groups, "." and "" are not valid links.
bool valid_link_name(const std::string& name) {
  return !name.empty() && name != "." && name.find('/') == std::string::npos;
}

void check_tensor(const CheckpointTensor& t, const char* where) {
  MP_CHECK(valid_link_name(t.name), std::string("checkpoint ") + where + " tensor name '" + t.name +
                                        "' is empty or contains '/'");
  MP_CHECK(static_cast<int64_t>(t.values.size()) == shape_numel(t.shape),
           std::string("checkpoint ") + where + " tensor " + t.name + " has " +
               std::to_string(t.values.size()) + " values for shape " + shape_str(t.shape));
}

void check_data(const CheckpointData& d) {
  std::set<std::string> names;
  for (const auto& p : d.params) {
    check_tensor(p, "param");
    MP_CHECK(names.insert(p.name).second, "checkpoint param " + p.name + " appears twice");
  }
  std::set<std::pair<std::string, std::string>> slots;
  for (const auto& t : d.optimizer) {
    check_tensor(t, "optimizer");
    MP_CHECK(valid_link_name(t.slot), "checkpoint optimizer slot '" + t.slot + "' is invalid");
    MP_CHECK(slots.insert({t.slot, t.name}).second,
             "checkpoint optimizer tensor " + t.slot + "/" + t.name + " appears twice");
  }
  for (const auto& [k, v] : d.extra_strings)
    MP_CHECK(!is_reserved_checkpoint_attr(k), "checkpoint extra attribute '" + k + "' is reserved");
  for (const auto& [k, v] : d.extra_ints) {
    MP_CHECK(!is_reserved_checkpoint_attr(k), "checkpoint extra attribute '" + k + "' is reserved");
    MP_CHECK(!d.extra_strings.count(k), "checkpoint extra attribute '" + k + "' is given twice");
  }
}

void write_all(hid_t file, const CheckpointData& d) {
  {
    H5Handle params = h5_create_ordered_group(file, "params");
    for (const auto& p : d.params) write_f32_dataset(params.get(), p.name, p.shape, p.values);
  }
  {
    H5Handle opt = h5_create_ordered_group(file, "optimizer");
    h5_write_attr_i64(opt.get(), "step", d.optimizer_step);
    for (const auto& t : d.optimizer) {
      if (!h5_link_exists(opt.get(), t.slot)) h5_create_ordered_group(opt.get(), t.slot);
      H5Handle slot = h5_open_group(opt.get(), t.slot);
      write_f32_dataset(slot.get(), t.name, t.shape, t.values);
    }
  }
  {
    H5Handle sc = h5_create_ordered_group(file, "scaler");
    write_scalar_f64(sc.get(), "scale", d.scaler.scale);
    write_scalar_i64(sc.get(), "growth_tracker", d.scaler.growth_tracker);
    write_scalar_i64(sc.get(), "hysteresis_tracker", d.scaler.hysteresis_tracker);
    write_scalar_i64(sc.get(), "consecutive_skips", d.scaler.consecutive_skips);
    write_scalar_i64(sc.get(), "total_skips", d.scaler.total_skips);
  }
  h5_write_attr_i64(file, "format_version", kCheckpointFormatVersion);
  h5_write_attr_i64(file, "step", d.step);
  h5_write_attr_i64(file, "applied_steps", d.applied_steps);
  h5_write_attr_i64(file, "epoch", d.epoch);
  h5_write_attr_i64(file, "batch_in_epoch", d.batch_in_epoch);
  h5_write_attr_u64(file, "rng_seed", d.rng_seed);
  h5_write_attr_u64(file, "rng_offset", d.rng_offset);
  h5_write_attr_str(file, "policy", d.policy);
  h5_write_attr_str(file, "config", d.config_text);
  h5_write_attr_str(file, "model_signature", d.model_signature);
  h5_write_attr_str(file, "mptrain_version",
                    d.mptrain_version.empty() ? "unknown" : d.mptrain_version);
  for (const auto& [k, v] : d.extra_strings) h5_write_attr_str(file, k, v);
  for (const auto& [k, v] : d.extra_ints) h5_write_attr_i64(file, k, v);
  // Last: a reader treats a file without it as an interrupted write.
  h5_write_attr_i64(file, "complete", 1);
}

}  // namespace

bool is_reserved_checkpoint_attr(const std::string& name) {
  static const std::set<std::string> reserved = {
      "format_version",  "step",       "applied_steps", "epoch",  "batch_in_epoch",
      "rng_seed",        "rng_offset", "policy",        "config", "model_signature",
      "mptrain_version", "complete"};
  return reserved.count(name) > 0;
}

void write_checkpoint_file(const std::filesystem::path& path, const CheckpointData& data) {
  check_data(data);
  h5_silence_errors();
  try {
    H5Handle fapl = checkpoint_file_access(true);
    H5Handle file = h5_check(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()),
                             "creating the file");
    write_all(file.get(), data);
    file.close("closing (flushing) the file");
  } catch (const H5Failure& e) {
    throw DataError("cannot write checkpoint " + path.string() + ": " + e.what() +
                    "; check that the directory is writable and the disk is not full");
  }
}

}  // namespace mp
