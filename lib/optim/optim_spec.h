// optim_spec.h: the `optimizer:` and `schedule:` sections of a run spec.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mp {

struct OptimizerSpec {
  std::string type = "adamw";  // adamw | sgd
  double lr = 1e-3;            // > 0
  double weight_decay = 0.0;   // >= 0 (decoupled for adamw, L2 for sgd)
  double beta1 = 0.9;          // adamw, [0, 1)
  double beta2 = 0.999;        // adamw, [0, 1)
  double eps = 1e-8;           // adamw, > 0
  double momentum = 0.0;       // sgd, [0, 1)
  bool nesterov = false;       // sgd (needs momentum > 0)
  double grad_clip_norm = 0.0; // 0 = off; else clip the global norm of unscaled grads
  std::vector<std::string> freeze;  // parameter names or prefixes that are not trained
};

struct ScheduleSpec {
  std::string type = "constant";  // constant | cosine | linear | step
  int64_t warmup_steps = 0;       // linear warmup from 0 to lr
  double min_lr_ratio = 0.0;      // cosine / linear: final lr = lr * min_lr_ratio
  int64_t step_size = 1000;       // step: decay every step_size steps
  double gamma = 0.1;             // step: multiply by gamma
};

}  // namespace mp
