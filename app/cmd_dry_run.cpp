// cmd_dry_run.cpp: `mptrain --config F --dry-run`: build the model on the CPU and print each layer
// with its output shape and parameter count, the total, and the memory estimate for the policy.
#include <cstdio>

#include "app/commands.h"
#include "backend/backend.h"
#include "train/model_setup.h"

namespace mp {

int cmd_dry_run(const RunSpec& spec, const TrainOptions&) {
  auto be = make_cpu_backend(1);
  auto model = Model::build(*be, spec.model.layers, resolve_input_shape(spec), model_options(spec));
  std::fputs(model_report(spec, *model).c_str(), stdout);
  std::printf("dry run: nothing was trained\n");
  return 0;
}

}  // namespace mp
