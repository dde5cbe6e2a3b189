// commands.h: one function per CLI command; main.cpp parses the command line and calls these.
// Each returns the process exit code (see core/error.h) or throws mp::Error.
#pragma once
#include <string>
#include <vector>

#include "config/run_spec.h"

namespace mp {

struct TrainOptions {
  std::string resume;   // "" | "auto" | checkpoint path
  std::string out_dir;  // overrides output.dir when non-empty
  std::string device;   // overrides spec.device when non-empty
  int verbosity = 0;    // -1 quiet, 0 normal, 1 verbose
};

int cmd_dry_run(const RunSpec& spec, const TrainOptions& opt);
int cmd_train(const RunSpec& spec, const TrainOptions& opt);
int cmd_eval(const RunSpec& spec, const std::string& checkpoint, const TrainOptions& opt);
int cmd_inspect(const std::string& file);
int cmd_sweep(const std::string& config, const std::vector<std::string>& grid,
              const std::vector<std::string>& sets, const std::string& out_dir, int verbosity);

// -q: warnings and errors only; -v: debug detail; default: info. Set once, for every command.
void set_log_level(int verbosity);

}  // namespace mp
