// checkpoint_io.h: one checkpoint file <-> CheckpointData. Layout (docs/ARCHITECTURE.md "Checkpoints"):
//   /params/<name>               fp32 master values, in model order (link creation order)
//   /optimizer/<slot>/<name>     fp32 optimizer state; attribute `step` on /optimizer
//   /scaler/{scale (f64), growth_tracker, hysteresis_tracker, consecutive_skips, total_skips (i64)}
//   root attributes: format_version, step, applied_steps, epoch, batch_in_epoch, rng_seed,
//                    rng_offset, policy, config, model_signature, mptrain_version, extras...,
//                    and `complete` = 1, written last.
// Float datasets are chunked with a Fletcher-32 checksum. Readable with h5py.
#pragma once
#include <filesystem>
#include <string>

#include "checkpoint/checkpoint_data.h"

namespace mp {

// Root attribute names the format reserves; CheckpointData extras may not use them.
bool is_reserved_checkpoint_attr(const std::string& name);

// Writes `data` to `path` (overwriting it) and closes the file. Not atomic by itself:
// save_checkpoint (checkpoint_store.h) calls this on a temp file, then fsyncs and renames it.
// Throws DataError naming the path when HDF5 cannot write; MP_CHECK on malformed data (a bug).
void write_checkpoint_file(const std::filesystem::path& path, const CheckpointData& data);

// Reads and validates the whole file: it opens as HDF5, format_version is known, `complete` = 1,
// every attribute and dataset is present with the right type and size and passes its checksum.
// Throws DataError naming the file and what is wrong; never returns part of a checkpoint.
CheckpointData read_checkpoint(const std::filesystem::path& path);

}  // namespace mp
