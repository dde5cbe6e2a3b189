// cmd_train.cpp: `mptrain --config F` (train), `mptrain eval`, `mptrain inspect`.
#include <spdlog/spdlog.h>

#include <cstdio>

#include "app/commands.h"
#include "data/describe_h5.h"
#include "checkpoint/checkpoint_summary.h"
#include "train/evaluate.h"
#include "train/trainer.h"

namespace mp {

void set_log_level(int verbosity) {
  spdlog::set_level(verbosity < 0 ? spdlog::level::warn
                    : verbosity > 0 ? spdlog::level::debug
                                    : spdlog::level::info);
}

int cmd_train(const RunSpec& spec, const TrainerOptions& opt) {
  Trainer trainer(spec, opt);
  return trainer.run();
}

int cmd_eval(const RunSpec& spec, const std::string& checkpoint) {
  const EvalResult r = evaluate_checkpoint(spec, checkpoint);
  std::printf("checkpoint: %s\nsamples: %lld\nval_loss: %.6f\n", checkpoint.c_str(),
              static_cast<long long>(r.samples), r.loss);
  if (r.accuracy >= 0) std::printf("val_accuracy: %.4f\n", r.accuracy);
  return 0;
}

int cmd_inspect(const std::string& file) {
  const std::string listing = describe_h5(file);  // DataError (exit 3) for a missing / non-HDF5 file
  if (auto summary = describe_checkpoint(file)) std::fputs(summary->c_str(), stdout);
  std::fputs(listing.c_str(), stdout);
  return 0;
}

}  // namespace mp
