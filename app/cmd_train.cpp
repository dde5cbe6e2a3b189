// cmd_train.cpp: `mptrain --config F` (train), `mptrain eval`, `mptrain inspect` (`mptrain export`:
// cmd_export.cpp).
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>

#include "app/commands.h"
#include "data/describe_h5.h"
#include "checkpoint/checkpoint_summary.h"
#include "checkpoint/weights_file.h"
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

int cmd_eval(const RunSpec& spec, const std::string& checkpoint, bool compare_fp32) {
  const EvalReport rep = evaluate_weights(spec, checkpoint, compare_fp32);
  if (!rep.auto_choice.empty()) spdlog::info("{}", rep.auto_choice);
  const EvalResult& r = rep.result;
  std::printf("checkpoint: %s\nstored: %s (trained with policy %s)\npolicy: %s\nsamples: %lld\n"
              "val_loss: %.6f\n",
              checkpoint.c_str(), std::string(dtype_name(rep.stored)).c_str(),
              rep.trained_policy.c_str(), rep.policy.c_str(), static_cast<long long>(r.samples),
              r.loss);
  if (r.per_token)  // a language model: the loss is nats per counted token
    std::printf("tokens: %lld\nval_bits_per_token: %.4f\n", static_cast<long long>(r.counted),
                r.loss / std::log(2.0));
  if (r.accuracy >= 0) std::printf("val_accuracy: %.4f\n", r.accuracy);
  if (rep.fp32) {
    const EvalResult& f = *rep.fp32;
    std::printf("fp32_val_loss: %.6f\nval_loss_delta: %+.6f (%s - fp32)\n", f.loss, r.loss - f.loss,
                rep.policy.c_str());
    if (f.accuracy >= 0)
      std::printf("fp32_val_accuracy: %.4f\nval_accuracy_delta: %+.4f (%s - fp32)\n", f.accuracy,
                  r.accuracy - f.accuracy, rep.policy.c_str());
  }
  return 0;
}

int cmd_inspect(const std::string& file) {
  const std::string listing = describe_h5(file);  // DataError (exit 3) for a missing / non-HDF5 file
  if (auto summary = describe_weights(file))  // before checkpoints: both carry format_version
    std::fputs(summary->c_str(), stdout);
  else if (auto ck_summary = describe_checkpoint(file))
    std::fputs(ck_summary->c_str(), stdout);
  std::fputs(listing.c_str(), stdout);
  return 0;
}

}  // namespace mp
