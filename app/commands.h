// commands.h: one function per CLI command; main.cpp parses the command line and calls these.
// Each returns the process exit code (see core/error.h) or throws mp::Error.
#pragma once
#include <string>
#include <vector>

#include "config/run_spec.h"
#include "train/trainer.h"

namespace mp {

// The spec already holds the command line's --device and --out (applied once, in cli.cpp).
int cmd_dry_run(RunSpec spec);
int cmd_train(const RunSpec& spec, const TrainerOptions& opt);
int cmd_eval(const RunSpec& spec, const std::string& checkpoint, bool compare_fp32);
int cmd_export(const std::string& checkpoint, const std::string& dtype, const std::string& out);
int cmd_inspect(const std::string& file);
int cmd_sweep(const std::string& config, const std::vector<std::string>& grid,
              const std::vector<std::string>& sets, const std::string& out_dir, int verbosity);
// `candidates`: "" = bf16,fp16; `write`: "" = print only.
int cmd_tune_precision(const RunSpec& spec, int64_t steps, const std::string& candidates,
                       const std::string& write, int verbosity);

// `mptrain sample`: text from a token model's checkpoint or export file (cmd_sample.cpp).
struct SampleOptions {
  std::string checkpoint, prompt;
  int64_t tokens = 300;      // tokens to generate
  double temperature = 1.0;  // <= 0: greedy
  int64_t top_k = 0;         // 0: all tokens
  uint64_t seed = 0;
};
int cmd_sample(RunSpec spec, const SampleOptions& opt);

// -q: warnings and errors only; -v: debug detail; default: info. Set once, for every command.
void set_log_level(int verbosity);

}  // namespace mp
