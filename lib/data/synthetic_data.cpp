// synthetic_data.cpp: Gaussian-cluster classification and linear-teacher regression data sets.
#include "data/synthetic_data.h"

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/philox.h"
#include "data/h5_write.h"

namespace mp {

namespace {

// Philox stream offsets: one per kind of random draw, so the draws never overlap.
enum : uint64_t { kCentres = 1, kLabels = 2, kNoise = 3, kWeights = 4, kBias = 5, kTargetNoise = 6 };

float normal(uint64_t seed, uint64_t stream, uint64_t i) { return philox_normal(seed, stream, i); }

void check_sizes(const std::string& path, int64_t n_train, int64_t n_val, int64_t dim, int64_t k) {
  if (n_train < 1 || n_val < 0 || dim < 1 || k < 1) {
    throw DataError(path + ": synthetic data: expected n_train >= 1, n_val >= 0, dim >= 1 and "
                    "classes/outputs >= 1, found " + std::to_string(n_train) + ", " +
                    std::to_string(n_val) + ", " + std::to_string(dim) + ", " + std::to_string(k));
  }
}

void write_meta(hid_t f, const char* kind, int64_t dim, int64_t k, uint64_t seed) {
  h5_write_attr(f, "/", "generator", std::string("mptrain synthetic ") + kind);
  h5_write_attr(f, "/", "seed", static_cast<int64_t>(seed));
  h5_write_attr(f, "/", "dim", dim);
  h5_write_attr(f, "/", std::string(kind) == "classification" ? "num_classes" : "out_dim", k);
}

}  // namespace

void write_synthetic_classification(const std::string& path, int64_t n_train, int64_t n_val,
                                    int64_t dim, int64_t classes, uint64_t seed) {
  check_sizes(path, n_train, n_val, dim, classes);
  const auto d = static_cast<size_t>(dim);
  std::vector<float> centres(static_cast<size_t>(classes) * d);
  for (size_t i = 0; i < centres.size(); ++i) centres[i] = 1.5f * normal(seed, kCentres, i);

  H5Handle f = h5_create(path);
  auto write_split = [&](const std::string& name, int64_t first, int64_t n) {
    std::vector<float> x(static_cast<size_t>(n) * d);
    std::vector<int32_t> y(static_cast<size_t>(n));
    for (int64_t s = 0; s < n; ++s) {
      const auto g = static_cast<uint64_t>(first + s);  // sample number across both splits
      const auto label = static_cast<int32_t>(philox_bits(seed, kLabels, g) % static_cast<uint64_t>(classes));
      y[static_cast<size_t>(s)] = label;
      for (size_t j = 0; j < d; ++j) {
        x[static_cast<size_t>(s) * d + j] =
            centres[static_cast<size_t>(label) * d + j] + normal(seed, kNoise, g * d + j);
      }
    }
    h5_write(f.get(), "/" + name + "/x", {n, dim}, x.data());
    h5_write(f.get(), "/" + name + "/y", {n}, y.data());
  };
  write_split("train", 0, n_train);
  write_split("val", n_train, n_val);
  write_meta(f.get(), "classification", dim, classes, seed);
}

void write_synthetic_regression(const std::string& path, int64_t n_train, int64_t n_val,
                                int64_t dim, int64_t out_dim, uint64_t seed) {
  check_sizes(path, n_train, n_val, dim, out_dim);
  const auto d = static_cast<size_t>(dim);
  const auto o = static_cast<size_t>(out_dim);
  const float w_scale = 1.0f / std::sqrt(static_cast<float>(dim));
  std::vector<float> w(o * d), b(o);
  for (size_t i = 0; i < w.size(); ++i) w[i] = w_scale * normal(seed, kWeights, i);
  for (size_t i = 0; i < o; ++i) b[i] = 0.1f * normal(seed, kBias, i);

  H5Handle f = h5_create(path);
  auto write_split = [&](const std::string& name, int64_t first, int64_t n) {
    std::vector<float> x(static_cast<size_t>(n) * d), y(static_cast<size_t>(n) * o);
    for (int64_t s = 0; s < n; ++s) {
      const auto g = static_cast<uint64_t>(first + s);
      float* xs = x.data() + static_cast<size_t>(s) * d;
      for (size_t j = 0; j < d; ++j) xs[j] = normal(seed, kNoise, g * d + j);
      for (size_t k = 0; k < o; ++k) {
        double acc = b[k];
        for (size_t j = 0; j < d; ++j) acc += static_cast<double>(w[k * d + j]) * xs[j];
        y[static_cast<size_t>(s) * o + k] =
            static_cast<float>(acc) + 0.01f * normal(seed, kTargetNoise, g * o + k);
      }
    }
    h5_write(f.get(), "/" + name + "/x", {n, dim}, x.data());
    h5_write(f.get(), "/" + name + "/y", {n, out_dim}, y.data());
  };
  write_split("train", 0, n_train);
  write_split("val", n_train, n_val);
  write_meta(f.get(), "regression", dim, out_dim, seed);
}

}  // namespace mp
