// h5_array.h: one N-dimensional HDF5 dataset read by rows (the first dimension indexes samples),
// either from a copy loaded into memory at open or by hyperslab reads from the file on demand.
// Rows come back as raw elements of the dataset's kind (see h5_types.h); callers convert.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "data/h5_handle.h"
#include "data/h5_types.h"

namespace mp {

class H5Array {
 public:
  // Opens dataset `path` of the open file `file` (named `file_name` in messages). DataError when
  // the dataset is missing or cannot be opened, is a scalar, is of an element type h5_types.h
  // does not read, needs a filter this HDF5 lacks, or was never fully written (h5_storage.h).
  H5Array(hid_t file, const std::string& file_name, const std::string& path, bool in_memory);

  const std::string& file_name() const { return file_name_; }
  const std::string& path() const { return path_; }
  ElemKind kind() const { return kind_; }
  const Shape& shape() const { return shape_; }  // full shape, [rows, ...]
  Shape row_shape() const { return Shape(shape_.begin() + 1, shape_.end()); }
  int64_t rows() const { return shape_[0]; }
  int64_t row_numel() const { return row_numel_; }
  size_t row_bytes() const { return static_cast<size_t>(row_numel_) * elem_kind_size(kind_); }
  bool in_memory() const { return in_memory_; }

  // Rows idx[0..n) (each in [0, rows()), any order, repeats allowed) into dst as n consecutive
  // rows. From the file, the distinct rows are read in ascending order, one hyperslab read per run
  // of consecutive rows.
  // Safe to call from several threads at once (the HDF5 library here is thread-safe).
  void read_rows(const int64_t* idx, size_t n, void* dst) const;
  // Rows [begin, end) into dst.
  void read_range(int64_t begin, int64_t end, void* dst) const;

 private:
  void read_selection(const std::vector<std::pair<int64_t, int64_t>>& runs, int64_t total,
                      void* dst) const;

  std::string file_name_;
  std::string path_;
  H5Handle ds_;
  H5Handle mem_type_;
  ElemKind kind_ = ElemKind::F32;
  Shape shape_;
  int64_t row_numel_ = 0;
  bool in_memory_ = false;
  std::string missing_filter_;  // an optional filter this build lacks: named when a read fails
  std::vector<unsigned char> data_;  // the whole dataset when loaded in memory
};

}  // namespace mp
