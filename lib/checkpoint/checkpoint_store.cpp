// checkpoint_store.cpp: naming, durable save, `latest`, pruning and the resume search.
#include "checkpoint/checkpoint_store.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "checkpoint/atomic_file.h"
#include "checkpoint/checkpoint_io.h"
#include "core/error.h"

namespace mp {
namespace fs = std::filesystem;

namespace {

constexpr const char* kLatest = "latest";

std::string trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(0, s.find_first_not_of(ws));
  size_t end = s.find_last_not_of(ws);
  s.erase(end == std::string::npos ? 0 : end + 1);
  return s;
}

// Deletes older checkpoints beyond `keep` and temp files of interrupted writes. Best effort: a file
// that cannot be deleted now is tried again after the next save.
void prune(const fs::path& run_dir, const fs::path& just_written, int64_t keep) {
  int64_t kept = 1;  // the new one
  for (const CheckpointFile& f : list_checkpoints(run_dir)) {
    if (f.path == just_written) continue;
    if (kept < keep) {
      ++kept;
      continue;
    }
    std::error_code ec;
    fs::remove(f.path, ec);
  }
  remove_temp_files(checkpoint_dir(run_dir));
}

}  // namespace

fs::path checkpoint_dir(const fs::path& run_dir) { return run_dir / "checkpoints"; }

std::string checkpoint_filename(int64_t step) {
  MP_CHECK(step >= 0, "checkpoint step " + std::to_string(step) + " is negative");
  char buf[64];
  std::snprintf(buf, sizeof buf, "step_%08lld.h5", static_cast<long long>(step));
  return buf;
}

std::optional<int64_t> parse_checkpoint_filename(const std::string& filename) {
  const std::string prefix = "step_", suffix = ".h5";
  if (filename.size() <= prefix.size() + suffix.size()) return std::nullopt;
  if (filename.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  if (filename.compare(filename.size() - suffix.size(), suffix.size(), suffix) != 0)
    return std::nullopt;
  std::string digits =
      filename.substr(prefix.size(), filename.size() - prefix.size() - suffix.size());
  if (digits.size() > 18 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return std::stoll(digits);
}

std::vector<CheckpointFile> list_checkpoints(const fs::path& run_dir) {
  std::vector<CheckpointFile> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(checkpoint_dir(run_dir), ec)) {
    if (auto step = parse_checkpoint_filename(entry.path().filename().string()))
      out.push_back({*step, entry.path()});
  }
  std::sort(out.begin(), out.end(), [](const CheckpointFile& a, const CheckpointFile& b) {
    return a.step != b.step ? a.step > b.step : a.path > b.path;
  });
  return out;
}

fs::path save_checkpoint(const fs::path& run_dir, const CheckpointData& data, int64_t keep) {
  MP_CHECK(keep >= 1, "keep_checkpoints must be >= 1, got " + std::to_string(keep));
  const fs::path dir = checkpoint_dir(run_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw DataError("cannot create checkpoint folder " + dir.string() + ": " + ec.message() +
                    "; check that the run directory is writable");
  const fs::path final_path = dir / checkpoint_filename(data.step);
  const fs::path tmp = temp_path_for(final_path);
  try {
    write_checkpoint_file(tmp, data);
    fsync_path(tmp);
    rename_durable(tmp, final_path);
  } catch (...) {
    std::error_code rm;
    fs::remove(tmp, rm);
    throw;
  }
  write_file_atomic(dir / kLatest, final_path.filename().string() + "\n");
  prune(run_dir, final_path, keep);
  return final_path;
}

std::optional<ResumePoint> find_resume_checkpoint(const fs::path& run_dir,
                                                  std::vector<std::string>& warnings) {
  const fs::path dir = checkpoint_dir(run_dir);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return std::nullopt;
  const std::vector<CheckpointFile> files = list_checkpoints(run_dir);
  std::set<fs::path> tried;

  auto try_load = [&](const fs::path& p) -> std::optional<ResumePoint> {
    tried.insert(p);
    try {
      return ResumePoint{p, read_checkpoint(p)};
    } catch (const DataError& e) {
      warnings.push_back(std::string("skipping checkpoint: ") + e.what());
      return std::nullopt;
    }
  };

  const fs::path latest = dir / kLatest;
  if (fs::exists(latest, ec)) {
    std::string name;
    try {
      name = trim(read_file(latest));
    } catch (const DataError& e) {
      warnings.push_back(e.what());
    }
    if (name.empty() || name.find('/') != std::string::npos) {
      warnings.push_back(latest.string() + " does not name a checkpoint file (found \"" + name +
                         "\"); using the newest readable step_*.h5 instead");
    } else if (!fs::exists(dir / name, ec)) {
      warnings.push_back(latest.string() + " names " + name +
                         ", which does not exist; using the newest readable step_*.h5 instead");
    } else if (auto point = try_load(dir / name)) {
      return point;
    }
  } else if (!files.empty()) {
    warnings.push_back(latest.string() +
                       " is missing (a save was interrupted); using the newest readable step_*.h5");
  }
  for (const CheckpointFile& f : files) {
    if (tried.count(f.path)) continue;
    if (auto point = try_load(f.path)) return point;
  }
  return std::nullopt;
}

}  // namespace mp
