// init_from.h: train.init_from / train.init_exclude, the start of a fine-tuning run. The masters
// of every parameter not excluded are set from the file's /params (a checkpoint, an export file or
// any HDF5 file with /params/<name> datasets in fp32, fp16 or bf16), working copies re-cast from
// them; the optimizer state, loss scaler, data cursor and step counter are not touched (they start
// fresh). A resumed run does not call this: its checkpoint wins.
#pragma once
#include <string>
#include <vector>

#include "backend/backend.h"
#include "checkpoint/checkpoint_compat.h"  // ParamShape
#include "nn/parameter.h"

namespace mp {

struct InitFromReport {
  std::string path;                   // as resolved
  size_t loaded = 0;                  // parameter tensors set from the file
  int64_t loaded_values = 0;          // their elements
  std::vector<std::string> excluded;  // model parameters left at their initialiser (model order)
  std::string stored_dtype;           // "fp32" | "fp16" | "bf16": how the file stores /params
};

// Every difference between the model's parameters and the file's, excluded names left out of
// both sides: "missing from the file: fc2.bias [10]", "unexpected in the file: head.weight [5, 8]",
// "fc1.weight: shape [8, 4] in the file vs [8, 5] in the model". All of them, model order first.
std::vector<std::string> init_from_differences(const std::vector<ParamShape>& model,
                                               const std::vector<ParamShape>& file,
                                               const std::vector<std::string>& excluded);

// Loads `path` into `params` (init_exclude entries in `exclude`). ConfigError (exit 2) when the
// file does not exist, an exclude entry matches no parameter (of the model or the file), or
// anything else differs (listing every difference); DataError (exit 3) when the file does not
// read.
InitFromReport init_from_file(Backend& be, const ParamList& params, const std::string& path,
                              const std::vector<std::string>& exclude);

// "init_from runs/pre/checkpoints/step_300.h5 (fp32): 4 of 6 parameter tensors (814080 values)
// loaded; kept at their initialiser: fc3.weight, fc3.bias"
std::string init_from_log_line(const InitFromReport& r, size_t model_params);

}  // namespace mp
