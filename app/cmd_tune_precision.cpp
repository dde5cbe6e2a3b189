// cmd_tune_precision.cpp: `mptrain tune-precision --config F [--steps N] [--candidates bf16,fp16]
// [--write OUT.yaml]` (behaviour in tune/tune_precision.h): prints the per-layer report and the
// recommended `precision:` section; --write writes the whole spec with that section, atomically.
#include <unistd.h>  // access

#include <cstdio>
#include <filesystem>

#include "app/commands.h"
#include "checkpoint/atomic_file.h"
#include "config/spec_dump.h"
#include "core/error.h"
#include "tune/tune_precision.h"

namespace mp {

namespace {

namespace fs = std::filesystem;

// Before any probe runs: --write must name a file in an existing, writable folder.
void check_writable(const std::string& out) {
  const fs::path p(out);
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  std::error_code ec;
  if (fs::is_directory(p, ec))
    throw ConfigError("--write " + out + ": is a directory; give the spec file to write (e.g. "
                      "--write tuned.yaml)");
  if (!fs::is_directory(dir, ec))
    throw ConfigError("--write " + out + ": the folder " + dir.string() +
                      " does not exist; create it or write elsewhere");
  if (access(dir.c_str(), W_OK) != 0)
    throw ConfigError("--write " + out + ": the folder " + dir.string() +
                      " is not writable; write the spec elsewhere");
}

}  // namespace

int cmd_tune_precision(const RunSpec& spec, int64_t steps, const std::string& candidates,
                       const std::string& write, int verbosity) {
  TuneOptions o;
  o.spec = spec;
  o.steps = steps;
  if (!candidates.empty()) o.candidates = parse_candidates(candidates);
  o.verbosity = verbosity;
  if (!write.empty()) check_writable(write);  // tune_precision checks the rest before probing
  TuneReport rep;
  try {
    rep = tune_precision(o);
  } catch (const ProbeStopped& s) {  // SIGINT/SIGTERM during a probe: no recommendation
    std::fprintf(stderr, "mptrain tune-precision: stopped by a signal during a probe; nothing "
                         "recommended or written\n");
    return s.code;
  }
  std::fputs(tune_report_text(rep).c_str(), stdout);
  if (!write.empty()) {
    try {
      write_file_atomic(write, dump_spec(rep.recommended));
    } catch (const DataError& e) {
      throw ConfigError(std::string("--write: ") + e.what());
    }
    std::printf("wrote %s\n", write.c_str());
  }
  return std::fflush(stdout) == 0 ? kExitOk : kExitInternal;
}

}  // namespace mp
