// checkpoint_store.h: the checkpoints/ folder of a run directory (docs/ARCHITECTURE.md "Checkpoints"):
// step_%08lld.h5 files, `latest` (a text file naming the newest complete one), keep-N pruning, and
// the search `--resume auto` does. Every file appears by rename only, so a crash (even kill -9) at
// any moment leaves every previously finished checkpoint loadable.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_data.h"

namespace mp {

// <run_dir>/checkpoints
std::filesystem::path checkpoint_dir(const std::filesystem::path& run_dir);
// "step_00000500.h5"
std::string checkpoint_filename(int64_t step);
// The step of a "step_<digits>.h5" name; nullopt for any other name.
std::optional<int64_t> parse_checkpoint_filename(const std::string& filename);

struct CheckpointFile {
  int64_t step;
  std::filesystem::path path;
};
// The step_*.h5 files in <run_dir>/checkpoints, newest (highest step) first; empty when none.
std::vector<CheckpointFile> list_checkpoints(const std::filesystem::path& run_dir);

// Writes <run_dir>/checkpoints/step_<data.step>.h5: HDF5 into a temp file in the same folder,
// fsync, rename, fsync the folder, then rewrites `latest` atomically, then deletes all but the
// `keep` newest checkpoints (the one just written always stays) and temp files left by a crashed
// writer. Returns the checkpoint's path. Throws DataError (naming the path) when it cannot be
// written; the previous checkpoints and `latest` are untouched then.
std::filesystem::path save_checkpoint(const std::filesystem::path& run_dir,
                                      const CheckpointData& data, int64_t keep);

struct ResumePoint {
  std::filesystem::path path;
  CheckpointData data;
};

// `--resume auto`: the newest checkpoint of the run that reads back completely. Tries the file
// `latest` names first, then step_*.h5 by descending step. Each checkpoint skipped (missing,
// corrupt, truncated, incomplete) adds one line to `warnings`. nullopt when none is usable.
std::optional<ResumePoint> find_resume_checkpoint(const std::filesystem::path& run_dir,
                                                  std::vector<std::string>& warnings);

}  // namespace mp
