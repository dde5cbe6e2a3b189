// model_setup.h: what a run needs before its first step, shared by train, eval and --dry-run:
// the data file path as the user meant it and the memory estimate printed by --dry-run. (The model
// options come from the resolved policy: model_options in precision/dtype_policy.h.)
#pragma once
#include <string>
#include <vector>

#include "config/run_spec.h"
#include "nn/model.h"

namespace mp {

// data.file resolved as data/data_file_path.h says (working directory, then the spec's folder).
std::string resolve_data_file(const RunSpec& spec);


struct MemoryEstimate {
  int64_t working_bytes = 0, master_bytes = 0, grad_bytes = 0, optimizer_bytes = 0,
          activation_bytes = 0;
  int64_t total() const {
    return working_bytes + master_bytes + grad_bytes + optimizer_bytes + activation_bytes;
  }
};
MemoryEstimate estimate_memory(const RunSpec& spec, Model& model);

// The --dry-run report: layer table, parameter total, memory estimate.
std::string model_report(const RunSpec& spec, Model& model);

}  // namespace mp
