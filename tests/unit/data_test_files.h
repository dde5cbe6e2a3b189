// data_test_files.h: helpers shared by the data-layer tests (tests/unit/data_*.cpp): a temporary
// folder removed at scope exit, writers for small HDF5 files of any element type, and checks of
// DataError messages.
#pragma once
#include <hdf5.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/data_spec.h"
#include "data/h5_handle.h"
#include "data/h5_write.h"

namespace mp::test {

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("mptrain_data_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// /train/x and /train/y as the training split (messages name the role).
inline const SplitSpec kTrainSplit{"/train/x", "/train/y", "training"};

// A split x [n, dim] float32 with x[i][j] = i + j / 100, y [n] int32 = i % classes.
inline void write_simple_split(const std::string& path, int64_t n, int64_t dim, int64_t classes,
                               int gzip = 0) {
  std::vector<float> x(static_cast<size_t>(n * dim));
  std::vector<int32_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    y[static_cast<size_t>(i)] = static_cast<int32_t>(i % classes);
    for (int64_t j = 0; j < dim; ++j) x[static_cast<size_t>(i * dim + j)] = static_cast<float>(i) + static_cast<float>(j) / 100.0f;
  }
  H5Handle f = h5_create(path);
  h5_write(f.get(), "/train/x", {n, dim}, x.data(), gzip);
  h5_write(f.get(), "/train/y", {n}, y.data(), gzip);
}

// The row index stored in x by write_simple_split (x[i][0] == i).
inline int64_t simple_row(const float* x_row) { return static_cast<int64_t>(x_row[0]); }

// The next n batches of a DataLoader.
template <class Loader> auto take(Loader& l, int64_t n) {
  std::vector<decltype(l.next())> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(l.next());
  return out;
}

// Expects fn() to throw DataError whose message contains every fragment; returns the message.
template <class Fn> std::string data_error_message(Fn fn) {
  try {
    fn();
  } catch (const DataError& e) {
    return e.what();
  }
  return "<no DataError thrown>";
}

// Checks that `msg` contains every fragment (one doctest CHECK each, the message logged).
inline void check_has(const std::string& msg, std::initializer_list<const char*> fragments) {
  for (const char* f : fragments) {
    INFO("message: " << msg);
    CHECK(msg.find(f) != std::string::npos);
  }
}

}  // namespace mp::test
