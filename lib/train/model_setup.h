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
// The estimate for a run on the engine spec.device picks (estimate_device): layers whose buffers
// depend on the engine (causal_self_attention's fused or [T, T] path) are planned for it first,
// so a model built on the CPU (--dry-run) is estimated as the run on a GPU will allocate.
MemoryEstimate estimate_memory(const RunSpec& spec, Model& model);
// The engine a run with this `device` setting trains on: cuda, cpu, or for auto cuda when a
// CUDA device is usable (make_backend's choice); no GPU is needed to estimate for cuda.
Device estimate_device(const std::string& device);

// The --dry-run report: layer table, parameter total, memory estimate.
std::string model_report(const RunSpec& spec, Model& model);

}  // namespace mp
