// checkpoint_data.h: everything a checkpoint holds, as plain data (no HDF5, no tensors), so the
// trainer fills it from its state and the writer/reader only move bytes. The file layout is in
// checkpoint_io.h; docs/ARCHITECTURE.md "Checkpoints" fixes it.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"  // Shape
#include "precision/loss_scaler.h"  // LossScalerState: /scaler/<field> scalar datasets

namespace mp {

// Checkpoint file format written by this code; readers reject any other version.
inline constexpr int64_t kCheckpointFormatVersion = 1;

// How the optimizer state in a checkpoint is laid out (root attribute state_layout_version):
//   1 (no attribute: checkpoints before dist.zero) and 2: whole tensors, /optimizer/<slot>/<param>
//     with the parameter's shape, the same whatever world size and dist.zero wrote them (a
//     sharded run gathers them on rank 0 first). 2 says so explicitly; the data cursor counts
//     batches of data.batch_size x world_size (its world_size attribute, 1 when absent).
// Readers accept both and refuse a larger number (a future per-rank layout).
inline constexpr int64_t kStateLayoutVersion = 2;

// One fp32 tensor: /params/<name> or /optimizer/<slot>/<name>.
struct CheckpointTensor {
  std::string slot;  // optimizer slot ("exp_avg", "momentum", ...); empty for /params entries
  std::string name;  // parameter name, e.g. "layers.3.weight"
  Shape shape;       // empty = scalar
  std::vector<float> values;  // row-major, shape_numel(shape) elements
};


struct CheckpointData {
  // Progress. `step` counts attempted optimizer steps (applied + skipped); the file is named for
  // it.
  int64_t step = 0;
  int64_t applied_steps = 0;
  int64_t epoch = 0;
  int64_t batch_in_epoch = 0;  // data cursor: batches of the current epoch already consumed
  uint64_t rng_seed = 0;       // Philox key
  uint64_t rng_offset = 0;     // Philox counter position

  std::string policy;           // precision.policy of the run that wrote it
  std::string config_text;      // the resolved YAML spec
  std::string model_signature;  // make_model_signature(): one "name shape" line per parameter
  std::string mptrain_version;  // informational; empty on write = "unknown"

  std::vector<CheckpointTensor> params;     // fp32 master values, in model order (slot empty)
  std::vector<CheckpointTensor> optimizer;  // optimizer state tensors, in insertion order
  int64_t optimizer_step = 0;  // the optimizer's own step counter (AdamW bias correction)
  LossScalerState scaler;

  // Extra root attributes; names must not collide with the reserved ones (checkpoint_io.h).
  std::map<std::string, std::string> extra_strings;
  std::map<std::string, int64_t> extra_ints;
};

}  // namespace mp
