// cmd_dry_run.cpp: `mptrain --config F --dry-run`: open and check both splits exactly as training
// would (missing or damaged file, shapes, labels, and the NaN/Inf scan when data.check_finite),
// build the model on the CPU and print each layer with its output shape and parameter count, the
// total, and the memory estimate for the policy (policy auto: decided by the spec's device first;
// frozen parameters, optimizer.freeze, counted without gradient and optimizer state) on the
// engine the spec's device picks (estimate_memory: attention's fused path on CUDA, no GPU needed).
#include <cstdio>

#include "app/commands.h"
#include "backend/backend.h"
#include "precision/dtype_policy.h"
#include "train/data_setup.h"
#include "train/model_setup.h"
#include "train/param_select.h"

namespace mp {

int cmd_dry_run(RunSpec spec) {
  if (spec.precision.policy == "auto") {  // the device decides it: ask the run's own backend
    auto device = make_backend({spec.device, static_cast<int>(spec.threads), false});
    std::printf("%s\n", resolve_auto_policy(spec.precision, device->native_low_precision()).c_str());
  }
  const DTypePolicy policy = resolve_dtype_policy(spec.precision);
  const RunData data = open_run_data(spec);
  auto be = make_cpu_backend(1);
  auto model = Model::build(*be, spec.model.layers, data.input_shape,
                            model_options(policy, static_cast<uint64_t>(spec.seed)));
  freeze_params(model->params(), spec.optimizer.freeze);  // a typo there fails here too (exit 2)
  check_run_data(spec, data, *model, *make_loss(spec.model.loss, spec.model.ignore_index));
  std::fputs(model_report(spec, *model).c_str(), stdout);
  const bool tokens = data.train_tokens != nullptr;  // data.format: tokens
  std::printf("dry run: data %s checked (%lld training, %lld validation %s); nothing was "
              "trained\n",
              tokens ? data.train_tokens->file().c_str() : data.train->file().c_str(),
              static_cast<long long>(data.train_size()), static_cast<long long>(data.val_size()),
              tokens ? "tokens" : "samples");
  return 0;
}

}  // namespace mp
