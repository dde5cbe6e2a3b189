// weights_file.h: the export file of `mptrain export` (docs/ARCHITECTURE.md "Checkpoints"): only the
// parameters, in one dtype, with the resolved config, for inference and for other tools (h5py).
//   /params/<name>   fp32 -> float32; fp16 -> IEEE float16 (numpy float16); bf16 -> the HDF5
//                    bfloat16 float layout of data/h5_types.h (2 bytes; h5py reads it as float32,
//                    exactly). Model order (link creation order), chunked with Fletcher-32.
//   root attributes: format = "mptrain-weights", format_version, dtype ("fp32"|"fp16"|"bf16"),
//                    source_checkpoint (the path as given), step, policy (of the training run),
//                    config (resolved YAML), model_signature, mptrain_version.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_data.h"
#include "core/dtype.h"

namespace mp {

inline constexpr const char* kWeightsFormat = "mptrain-weights";
inline constexpr int64_t kWeightsFormatVersion = 1;

struct WeightsData {
  DType dtype = DType::F32;       // how /params are stored
  std::string source_checkpoint;  // as given to `mptrain export`
  int64_t step = 0;
  std::string policy;             // precision.policy of the run that trained the weights
  std::string config_text;
  std::string model_signature;
  std::string mptrain_version;
  std::vector<CheckpointTensor> params;  // fp32 values, each exactly representable in `dtype`
};

// `w` (read_weights_any) with its parameters rounded to `dtype` (round to nearest even, once, from
// the fp32 values) and source_checkpoint set to `source`. Throws NumericalError (exit 4) naming
// the parameter and its largest |value| when a value is not finite or would round to infinity in
// `dtype` (fp16: |value| >= 65520).
WeightsData rounded_weights(const WeightsData& w, DType dtype, const std::string& source);

// Writes `w` to `path` atomically (temp file, fsync, rename): on failure nothing is left behind.
// Throws DataError naming the path.
void write_weights_file(const std::filesystem::path& path, const WeightsData& w);

// Reads and validates an export file (format, version, dtype, every dataset of that dtype, the
// signature against the datasets). Throws DataError naming the file and what is wrong.
WeightsData read_weights_file(const std::filesystem::path& path);

// True when `path` opens as HDF5 and its root attribute `format` is "mptrain-weights".
bool is_weights_file(const std::string& path);

// The parameters of a checkpoint or of an export file, as WeightsData (a checkpoint's are fp32).
WeightsData read_weights_any(const std::string& path);

// The /params of any HDF5 file (train.init_from): a checkpoint or an export file as
// read_weights_any (fully validated); any other file's /params/<name> datasets (float32, IEEE
// float16 or bfloat16, each widened exactly to fp32; `dtype` is the widest stored, policy and
// signature empty). Throws DataError naming the file and the dataset when one does not read.
WeightsData read_params_any(const std::string& path);

// The header `mptrain inspect` prints for an export file; nullopt when `path` is not one.
std::optional<std::string> describe_weights(const std::string& path);

}  // namespace mp
