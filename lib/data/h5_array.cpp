// h5_array.cpp: opening a dataset, loading it whole, and reading row selections by hyperslab.
#include "data/h5_array.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "core/error.h"
#include "data/h5_storage.h"
#include "data/h5_walk.h"

namespace mp {

namespace {

constexpr size_t kChunkCacheBytes = 64u << 20;  // per dataset; holds every chunk of MNIST
constexpr size_t kChunkCacheSlots = 12421;      // prime, ~100x the chunks that fit

std::string supported_list() {
  return "uint8, int8, uint16, int16, int32, uint32, int64, uint64, float16, bfloat16, float32, "
         "float64";
}

}  // namespace

H5Array::H5Array(hid_t file, const std::string& file_name, const std::string& path, bool in_memory)
    : file_name_(file_name), path_(path) {
  h5_silence_errors();
  H5Handle dapl(H5Pcreate(H5P_DATASET_ACCESS));
  MP_CHECK(dapl.valid(), "H5Pcreate(H5P_DATASET_ACCESS) failed");
  H5Pset_chunk_cache(dapl.get(), kChunkCacheSlots, kChunkCacheBytes, 1.0);
  ds_ = h5_open_dataset(file, file_name, path, dapl.get());
  const std::string what = file_name + ": dataset " + path + ": ";

  H5Handle ftype(H5Dget_type(ds_.get()));
  MP_CHECK(ftype.valid(), "H5Dget_type failed on " + path);
  const auto kind = classify_h5_type(ftype.get());
  if (!kind) {
    throw DataError(what + "unsupported element type " + describe_h5_type(ftype.get()) +
                    "; expected one of " + supported_list() +
                    "; convert the dataset (numpy: x.astype(np.float32))");
  }
  kind_ = *kind;
  mem_type_ = memory_type(kind_);

  H5Handle space(H5Dget_space(ds_.get()));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) throw DataError(what + "cannot read its shape (HDF5: " + h5_last_error() + ")");
  if (rank == 0) {
    throw DataError(what + "expected an array with samples along the first dimension, found a "
                    "scalar or an empty dataspace (h5py.Empty); store one row per sample");
  }
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  shape_.assign(dims.begin(), dims.end());
  row_numel_ = shape_numel(row_shape());
  h5_check_storage(ds_.get(), what);
  missing_filter_ = h5_missing_optional_filter(ds_.get());

  in_memory_ = in_memory;
  if (in_memory && rows() > 0 && row_numel_ > 0) {
    const size_t bytes = static_cast<size_t>(rows()) * row_bytes();
    try {
      data_.resize(bytes);
    } catch (const std::bad_alloc&) {
      throw DataError(what + "cannot load " + std::to_string(bytes >> 20) +
                      " MiB into memory; set data.in_memory: false to read batches from the file");
    }
    if (H5Dread(ds_.get(), mem_type_.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data_.data()) < 0) {
      const std::string why = h5_last_error();
      if (!missing_filter_.empty()) throw DataError(what + h5_missing_filter_message(missing_filter_));
      throw DataError(what + "read failed (HDF5: " + why + "); the file may be truncated or corrupt");
    }
  }
}

void H5Array::read_selection(const std::vector<std::pair<int64_t, int64_t>>& runs, int64_t total,
                             void* dst) const {
  // One H5Dread per run of consecutive rows. A single read of the union of the runs
  // (H5S_SELECT_OR) is ~60x slower in HDF5 1.10 for MNIST-sized batches of random rows.
  h5_silence_errors();
  H5Handle fspace(H5Dget_space(ds_.get()));
  std::vector<hsize_t> start(shape_.size(), 0), count(shape_.begin(), shape_.end());
  auto* out = static_cast<unsigned char*>(dst);
  int64_t done = 0;
  for (const auto& [b, len] : runs) {
    start[0] = static_cast<hsize_t>(b);
    count[0] = static_cast<hsize_t>(len);
    H5Handle mspace(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr));
    if (H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(),
                            nullptr) < 0 ||
        H5Dread(ds_.get(), mem_type_.get(), mspace.get(), fspace.get(), H5P_DEFAULT,
                out + static_cast<size_t>(done) * row_bytes()) < 0) {
      const std::string why = h5_last_error();
      const std::string rows = "read failed at rows " + std::to_string(b) + ".." +
                               std::to_string(b + len - 1);
      const std::string what = file_name_ + ": dataset " + path_ + ": ";
      if (!missing_filter_.empty())  // HDF5's reason would be a plugin folder it did not find
        throw DataError(what + rows + ": the dataset " + h5_missing_filter_message(missing_filter_));
      throw DataError(what + rows + " (HDF5: " + why + "); the file may be truncated, corrupt or "
                      "changed while training");
    }
    done += len;
  }
  MP_CHECK(done == total, "H5Array::read_selection: runs do not add up to the row count");
}

void H5Array::read_range(int64_t begin, int64_t end, void* dst) const {
  MP_CHECK(0 <= begin && begin <= end && end <= rows(), "row range out of bounds in " + path_);
  if (begin == end || row_numel_ == 0) return;
  if (in_memory_) {
    std::memcpy(dst, data_.data() + static_cast<size_t>(begin) * row_bytes(),
                static_cast<size_t>(end - begin) * row_bytes());
    return;
  }
  read_selection({{begin, end - begin}}, end - begin, dst);
}

void H5Array::read_rows(const int64_t* idx, size_t n, void* dst) const {
  if (n == 0 || row_numel_ == 0) return;
  const size_t rb = row_bytes();
  auto* out = static_cast<unsigned char*>(dst);
  for (size_t i = 0; i < n; ++i)
    MP_CHECK(0 <= idx[i] && idx[i] < rows(), "row index out of bounds in " + path_);
  if (in_memory_) {
    for (size_t i = 0; i < n; ++i) std::memcpy(out + i * rb, data_.data() + idx[i] * rb, rb);
    return;
  }
  // Distinct rows in ascending order, grouped into runs of consecutive rows.
  std::vector<int64_t> sorted(idx, idx + n);
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::vector<std::pair<int64_t, int64_t>> runs;
  for (int64_t r : sorted) {
    if (!runs.empty() && runs.back().first + runs.back().second == r) {
      ++runs.back().second;
    } else {
      runs.push_back({r, 1});
    }
  }
  const bool in_order = sorted.size() == n && std::equal(sorted.begin(), sorted.end(), idx);
  if (in_order) {
    read_selection(runs, static_cast<int64_t>(n), dst);
    return;
  }
  std::vector<unsigned char> tmp(sorted.size() * rb);
  read_selection(runs, static_cast<int64_t>(sorted.size()), tmp.data());
  for (size_t i = 0; i < n; ++i) {
    const size_t pos = static_cast<size_t>(
        std::lower_bound(sorted.begin(), sorted.end(), idx[i]) - sorted.begin());
    std::memcpy(out + i * rb, tmp.data() + pos * rb, rb);
  }
}

}  // namespace mp
