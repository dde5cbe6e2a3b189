// split.h: one split of a data set — inputs x [N, ...sample shape] and labels or targets y [N, ...]
// (e.g. /train/x and /train/y) — opened with every structural check, read by sample index into
// float32 inputs and int32 labels (integer y: classification) or float32 targets (float y:
// regression). The content checks a run needs (labels in range, shapes the model expects, finite
// inputs) are separate calls, because they need the model or a scan of the whole split.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/tensor.h"
#include "data/data_spec.h"
#include "data/h5_array.h"

namespace mp {

class Split {
 public:
  // Opens `file` and the datasets `paths.x`, `paths.y`. DataError when the file is missing or not
  // HDF5, a dataset is missing (the message lists the file's datasets), an element type is not
  // supported, x and y differ in length, or the split is empty. `in_memory` loads both datasets
  // at open; otherwise rows are read from the file on demand.
  Split(const std::string& file, const SplitSpec& paths, bool in_memory);

  // The same, held by the shared pointer a DataLoader takes.
  static std::shared_ptr<const Split> open(const std::string& file, const SplitSpec& paths,
                                           bool in_memory);

  const std::string& file() const { return file_; }
  const SplitSpec& paths() const { return paths_; }
  int64_t size() const { return x_.rows(); }
  bool in_memory() const { return x_.in_memory(); }

  Shape sample_shape() const { return x_.row_shape(); }  // x dims after the first
  int64_t sample_numel() const { return x_.row_numel(); }
  ElemKind input_kind() const { return x_.kind(); }

  bool has_labels() const { return !elem_kind_is_float(y_.kind()); }  // integer y
  ElemKind target_kind() const { return y_.kind(); }
  Shape target_shape() const { return y_.row_shape(); }  // [] for labels stored as [N]
  int64_t target_numel() const { return y_.row_numel(); }

  // DataError unless the per-sample input shape equals `expected` (the model's input shape).
  void check_input_shape(const Shape& expected) const;
  // DataError unless y holds `per_sample` integer labels per sample (1: classification; T: token
  // labels [N, T], one per position of a [T, classes] output), each in [0, num_classes) or equal to
  // ignore_index, and at least one is not ignore_index (a split of only ignored labels gives a
  // loss and accuracy of 0 that mean nothing). Scans the whole split; the message names the
  // first bad sample.
  void check_labels(int64_t num_classes, int64_t ignore_index, int64_t per_sample = 1) const;
  // DataError when integer y is neither one label per sample ([N] or [N, 1]) nor one per input
  // token (shaped like x, [N, T]): what batches can be made of (BatchMaker checks it).
  void check_label_layout() const;
  // DataError unless y holds float targets of per-sample shape `expected` ([] and [1] are the
  // same: one value per sample).
  void check_targets(const Shape& expected) const;
  // DataError at the first NaN or Inf in x (and in y when it holds float targets). Scans the
  // whole split up front (data.check_finite); integer inputs are finite by construction and are
  // not read. read() checks every batch anyway; this finds the problem before training starts.
  void check_finite() const;

  // DataError unless the first and the last sample can be read: a cheap probe, at start, for
  // chunks stored with an optional filter this build lacks (h5_storage.h), which would otherwise
  // fail a batch mid-run, or pass a dry run.
  void check_readable() const;

  // Samples idx[0..n) (each in [0, size()), any order) into
  //   x:       n * sample_numel() floats, each input times input_scale (see convert_to_float);
  //   labels:  n * target_numel() int32 (has_labels(); one per sample, or T per sample for token
  //            labels [N, T]; values saturate at the int32 range), or nullptr;
  //   targets: n * target_numel() floats (!has_labels()), or nullptr.
  // Thread-safe. DataError when the file cannot be read, or when an input or target is NaN or
  // Inf once converted (and scaled): the message names the sample's row and the split's role.
  void read(const int64_t* idx, size_t n, double input_scale, float* x, int32_t* labels,
            float* targets) const;

 private:
  std::string where(const H5Array& a) const { return file_ + ": dataset " + a.path() + ": "; }

  std::string file_;
  SplitSpec paths_;
  H5Handle h5file_;
  H5Array x_;
  H5Array y_;
};

}  // namespace mp
