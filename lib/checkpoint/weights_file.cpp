// weights_file.cpp: export files (weights_file.h) written from checkpoints and read for evaluation.
#include "checkpoint/weights_file.h"

#include <cmath>
#include <sstream>

#include "checkpoint/atomic_file.h"
#include "checkpoint/checkpoint_compat.h"
#include "checkpoint/checkpoint_hdf5.h"
#include "checkpoint/checkpoint_io.h"
#include "core/error.h"
#include "core/half.h"
#include "core/text.h"
#include "data/h5_attr.h"

namespace mp {

namespace {

float round_to_dtype(float v, DType dtype) {
  switch (dtype) {
    case DType::F16: return round_to<half>(v);
    case DType::BF16: return round_to<bfloat16>(v);
    default: return v;
  }
}

// The stored bits of already-rounded values (exact: each is representable in `dtype`).
std::vector<uint16_t> bits_of(const std::vector<float>& v, DType dtype) {
  std::vector<uint16_t> bits(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    bits[i] = dtype == DType::F16 ? float_to_half_bits(v[i]) : float_to_bf16_bits(v[i]);
  return bits;
}

void write_all(hid_t file, const WeightsData& w) {
  {
    H5Handle params = h5_create_ordered_group(file, "params");
    for (const auto& p : w.params) {
      if (w.dtype == DType::F32) {
        write_f32_dataset(params.get(), p.name, p.shape, p.values);
      } else {
        const std::vector<uint16_t> bits = bits_of(p.values, w.dtype);
        write_float_dataset(params.get(), p.name, p.shape, w.dtype, bits.data());
      }
    }
  }
  h5_write_attr_str(file, "format", kWeightsFormat);
  h5_write_attr_i64(file, "format_version", kWeightsFormatVersion);
  h5_write_attr_str(file, "dtype", std::string(dtype_name(w.dtype)));
  h5_write_attr_str(file, "source_checkpoint", w.source_checkpoint);
  h5_write_attr_i64(file, "step", w.step);
  h5_write_attr_str(file, "policy", w.policy);
  h5_write_attr_str(file, "config", w.config_text);
  h5_write_attr_str(file, "model_signature", w.model_signature);
  h5_write_attr_str(file, "mptrain_version", w.mptrain_version.empty() ? "unknown" : w.mptrain_version);
}

// /params/<name> of `params`, widened exactly to fp32; `stored` receives its dtype. H5Failure
// naming the dataset (followed by `advice`) when it does not read.
CheckpointTensor read_param(hid_t params, const std::string& name, DType& stored,
                            const std::string& advice = "") {
  CheckpointTensor t;
  t.name = name;
  try {
    stored = read_float_dataset(params, name, t.shape, t.values, true);
  } catch (const H5Failure& e) {
    throw H5Failure("/params/" + name + ": " + e.what() + advice);
  }
  return t;
}

void read_all(hid_t file, WeightsData& w) {
  if (!h5_attr_exists(file, "format") || h5_read_attr_str(file, "format") != kWeightsFormat)
    throw H5Failure(std::string("it has no root attribute format = \"") + kWeightsFormat +
                    "\", so it is not an mptrain export file");
  const int64_t version = h5_read_attr_i64(file, "format_version");
  if (version != kWeightsFormatVersion)
    throw H5Failure("format_version is " + std::to_string(version) + ", this mptrain reads " +
                    std::to_string(kWeightsFormatVersion) +
                    " (use the mptrain version named by its mptrain_version attribute)");
  const std::string dtype = h5_read_attr_str(file, "dtype");
  const std::optional<DType> dt = parse_dtype(dtype);
  if (!dt || !is_float(*dt))
    throw H5Failure("its dtype attribute is \"" + dtype + "\", expected fp32, fp16 or bf16");
  w.dtype = *dt;
  w.source_checkpoint = h5_read_attr_str(file, "source_checkpoint");
  w.step = h5_read_attr_i64(file, "step");
  w.policy = h5_read_attr_str(file, "policy");
  w.config_text = h5_read_attr_str(file, "config");
  w.model_signature = h5_read_attr_str(file, "model_signature");
  w.mptrain_version = h5_read_attr_str(file, "mptrain_version");
  H5Handle params = h5_open_group(file, "params");
  for (const std::string& name : h5_link_names(params.get())) {
    DType stored = DType::F32;
    CheckpointTensor t = read_param(params.get(), name, stored);
    if (stored != w.dtype)
      throw H5Failure("/params/" + name + " is stored as " + std::string(dtype_name(stored)) +
                      " but the file's dtype attribute says " + dtype);
    w.params.push_back(std::move(t));
  }
}

std::string size_text(double bytes) {
  return bytes < 1024.0 * 1024.0 ? printf_text("%.1f KiB", bytes / 1024.0)
                                 : printf_text("%.2f MiB", bytes / (1024.0 * 1024.0));
}

}  // namespace

WeightsData rounded_weights(const WeightsData& src, DType dtype, const std::string& source) {
  MP_CHECK(is_float(dtype), "rounded_weights: not a float dtype");
  WeightsData w = src;
  w.dtype = dtype;
  w.source_checkpoint = source;
  w.params.clear();
  for (const CheckpointTensor& p : src.params) {
    CheckpointTensor out{"", p.name, p.shape, {}};
    out.values.resize(p.values.size());
    double largest = 0.0;
    bool bad = false;
    for (size_t i = 0; i < p.values.size(); ++i) {
      const float v = p.values[i];
      out.values[i] = round_to_dtype(v, dtype);
      largest = std::isfinite(v) ? std::max(largest, std::fabs(static_cast<double>(v))) : INFINITY;
      bad = bad || !std::isfinite(out.values[i]);
    }
    if (bad)
      throw NumericalError(
          "cannot export parameter " + p.name + " of " + source + " as " +
          std::string(dtype_name(dtype)) + ": its largest |value| is " + num_text(largest) +
          (std::isfinite(largest) ? ", which rounds to infinity (the " +
                                        std::string(dtype_name(dtype)) + " maximum is " +
                                        num_text(dtype_max(dtype)) + ")"
                                  : " (the file holds a non-finite value)") +
          "; export with --dtype bf16 (fp32's range) or fp32; nothing was written");
    w.params.push_back(std::move(out));
  }
  return w;
}

void write_weights_file(const std::filesystem::path& path, const WeightsData& w) {
  const std::filesystem::path tmp = temp_path_for(path);
  try {
    h5_silence_errors();
    try {
      H5Handle fapl = checkpoint_file_access(true);
      H5Handle file = h5_check(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()),
                               "creating the file");
      write_all(file.get(), w);
      file.close("closing (flushing) the file");
    } catch (const H5Failure& e) {
      throw DataError("cannot write " + path.string() + ": " + e.what() +
                      "; check that the directory exists and is writable and the disk is not full");
    }
    fsync_path(tmp);
    rename_durable(tmp, path);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
}

WeightsData read_weights_file(const std::filesystem::path& path) {
  WeightsData w;
  h5_silence_errors();
  try {
    H5Handle fapl = checkpoint_file_access(false);
    H5Handle file = h5_check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), "opening the file");
    read_all(file.get(), w);
  } catch (const H5Failure& e) {
    throw DataError("cannot read export file " + path.string() + ": " + e.what() +
                    "; export it again with mptrain export");
  }
  // The stored signature must describe the stored tensors (as a checkpoint's must).
  CheckpointData as_ck;
  as_ck.model_signature = w.model_signature;
  as_ck.params = w.params;
  check_signature_consistent(as_ck, path.string());
  return w;
}

bool is_weights_file(const std::string& path) {
  return h5_probe_file(path, [](hid_t f) {
    return h5_attr_exists(f, "format") && h5_attr_class(f, "format") == H5T_STRING &&
           h5_read_attr_str(f, "format") == kWeightsFormat;
  });
}

WeightsData read_weights_any(const std::string& path) {
  if (is_weights_file(path)) return read_weights_file(path);
  const CheckpointData ck = read_checkpoint(path);
  check_signature_consistent(ck, path);
  WeightsData w;
  w.source_checkpoint = path;
  w.step = ck.step;
  w.policy = ck.policy;
  w.config_text = ck.config_text;
  w.model_signature = ck.model_signature;
  w.mptrain_version = ck.mptrain_version;
  w.params = ck.params;
  return w;
}

WeightsData read_params_any(const std::string& path) {
  const bool ours = is_weights_file(path) ||
                    h5_probe_file(path, [](hid_t f) { return h5_attr_exists(f, "format_version"); });
  if (ours) return read_weights_any(path);
  WeightsData w;
  w.source_checkpoint = path;
  h5_silence_errors();
  try {
    H5Handle fapl = checkpoint_file_access(false);
    H5Handle file = h5_check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), "opening the file");
    if (!h5_link_exists(file.get(), "params"))
      throw H5Failure("it has no /params group (expected /params/<parameter name> datasets, as "
                      "mptrain checkpoints and export files have)");
    H5Handle params = h5_open_group(file.get(), "params");
    bool first = true;
    for (const std::string& name : h5_link_names(params.get())) {
      DType stored = DType::F32;
      CheckpointTensor t = read_param(params.get(), name, stored,
                                      " (each /params entry must be a float32, float16 or "
                                      "bfloat16 dataset)");
      if (first || stored == DType::F32) w.dtype = stored;
      first = false;
      w.params.push_back(std::move(t));
    }
  } catch (const H5Failure& e) {
    throw DataError("cannot read parameters from " + path + ": " + e.what());
  }
  return w;
}

std::optional<std::string> describe_weights(const std::string& path) {
  if (!is_weights_file(path)) return std::nullopt;
  std::ostringstream o;
  try {
    const WeightsData w = read_weights_file(path);
    int64_t n = 0;
    for (const auto& t : w.params) n += shape_numel(t.shape);
    std::error_code ec;
    const auto file_bytes = std::filesystem::file_size(path, ec);
    o << "export file (" << kWeightsFormat << " v" << kWeightsFormatVersion << "): dtype "
      << dtype_name(w.dtype) << ", step " << w.step << " of " << w.source_checkpoint
      << " (trained with policy " << w.policy << ")"
      << "\n  " << w.params.size() << " parameter tensors, " << n << " parameters, "
      << size_text(static_cast<double>(n) * static_cast<double>(dtype_size(w.dtype))) << " of values"
      << (ec ? "" : ", file " + size_text(static_cast<double>(file_bytes)))
      << "; written by mptrain " << w.mptrain_version << "\n  checksums verified\n\n";
  } catch (const Error& e) {
    o << "export file: NOT LOADABLE: " << e.what() << "\n\n";
  }
  return o.str();
}

}  // namespace mp
