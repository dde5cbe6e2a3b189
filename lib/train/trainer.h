// trainer.h: the training loop a run executes (docs/ARCHITECTURE.md "The precision contract" for the step):
// micro-batches -> forward -> loss x S -> backward into fp32 grads -> optimizer_step (unscale,
// skip or clip + update + recast, scaler update) -> metrics, evaluation, checkpoints. Resumes
// exactly from a checkpoint (parameters, optimizer, scaler, data cursor, RNG offset) and stops
// cleanly on SIGINT/SIGTERM after saving one.
#pragma once
#include <memory>
#include <string>

#include "config/run_spec.h"

namespace mp {

// How a run is driven, beyond its spec (the command line's --resume, -q/-v; a sweep's point
// directory). --device and --out are not here: the command line writes them into the spec
// (spec.device, spec.output.dir) once, and everything reads them from there.
struct TrainerOptions {
  std::string run_dir;  // "" = output.dir of the spec with its placeholders filled
  std::string resume;   // "" | "auto" | checkpoint path
  int verbosity = 0;    // -1 quiet, 0 normal, 1 verbose
  bool print_result = true;  // the "done: ..." line; false when the caller reports (tune-precision)
};

struct EvalResult {
  double loss = 0.0;      // mean per-sample loss over the split's counted samples (NaN if none)
  double accuracy = -1.0; // fraction of the counted samples classified right; < 0 for regression
  int64_t samples = 0;
  int64_t counted = 0;    // samples whose label is not model.ignore_index (all, for regression)
  bool per_token = false; // labels [B, T]: loss, accuracy and counted are per token (nats/token)
};

class TrainerImpl;

class Trainer {
 public:
  Trainer(const RunSpec& spec, const TrainerOptions& opt);
  ~Trainer();
  // Trains to the end (or to a signal). Returns 0, or 130/143 after a signal; throws mp::Error.
  int run();

 private:
  std::unique_ptr<TrainerImpl> impl_;
};

}  // namespace mp
