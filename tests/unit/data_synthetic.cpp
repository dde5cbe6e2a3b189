// data_synthetic.cpp: the synthetic data sets are deterministic in their seed, in the MNIST
// layout, and learnable: a nearest-centroid classifier and a least-squares fit, trained on
// /train, do well on /val.
#include "data/synthetic_data.h"

#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "data/split.h"
#include "data_test_files.h"

using namespace mp;
using mp::test::TempDir;

namespace {
struct All {
  std::vector<float> x, targets;
  std::vector<int32_t> labels;
};

All read_all(const std::string& p, const std::string& split) {
  Split s(p, {"/" + split + "/x", "/" + split + "/y"}, true);
  std::vector<int64_t> idx(static_cast<size_t>(s.size()));
  for (int64_t i = 0; i < s.size(); ++i) idx[static_cast<size_t>(i)] = i;
  All a;
  a.x.resize(idx.size() * static_cast<size_t>(s.sample_numel()));
  if (s.has_labels()) a.labels.resize(idx.size());
  else a.targets.resize(idx.size() * static_cast<size_t>(s.target_numel()));
  s.read(idx.data(), idx.size(), 1.0, a.x.data(), s.has_labels() ? a.labels.data() : nullptr,
         s.has_labels() ? nullptr : a.targets.data());
  return a;
}

// Solves A z = b (n x n, row-major) by Gaussian elimination with partial pivoting.
std::vector<double> solve(std::vector<double> A, std::vector<double> b, size_t n) {
  for (size_t c = 0; c < n; ++c) {
    size_t piv = c;
    for (size_t r = c + 1; r < n; ++r)
      if (std::fabs(A[r * n + c]) > std::fabs(A[piv * n + c])) piv = r;
    for (size_t k = 0; k < n; ++k) std::swap(A[c * n + k], A[piv * n + k]);
    std::swap(b[c], b[piv]);
    for (size_t r = c + 1; r < n; ++r) {
      const double f = A[r * n + c] / A[c * n + c];
      for (size_t k = c; k < n; ++k) A[r * n + k] -= f * A[c * n + k];
      b[r] -= f * b[c];
    }
  }
  std::vector<double> z(n);
  for (size_t i = n; i-- > 0;) {
    double s = b[i];
    for (size_t k = i + 1; k < n; ++k) s -= A[i * n + k] * z[k];
    z[i] = s / A[i * n + i];
  }
  return z;
}
}  // namespace

TEST_CASE("synthetic classification: layout, determinism, learnable") {
  TempDir d;
  const int64_t dim = 16, classes = 5;
  write_synthetic_classification(d.file("a.h5"), 2000, 500, dim, classes, 7);
  write_synthetic_classification(d.file("b.h5"), 2000, 500, dim, classes, 7);
  write_synthetic_classification(d.file("c.h5"), 2000, 500, dim, classes, 8);
  Split s(d.file("a.h5"), {"/train/x", "/train/y"}, false);
  CHECK(s.size() == 2000);
  CHECK(s.sample_shape() == Shape{dim});
  CHECK(s.input_kind() == ElemKind::F32);
  CHECK_NOTHROW(s.check_labels(classes, -100));
  CHECK_NOTHROW(s.check_finite());
  CHECK(Split(d.file("a.h5"), {"/val/x", "/val/y"}, false).size() == 500);

  const All tr = read_all(d.file("a.h5"), "train");
  const All va = read_all(d.file("a.h5"), "val");
  CHECK(tr.x == read_all(d.file("b.h5"), "train").x);
  CHECK(tr.labels == read_all(d.file("b.h5"), "train").labels);
  CHECK(tr.x != read_all(d.file("c.h5"), "train").x);
  CHECK(std::set<int32_t>(tr.labels.begin(), tr.labels.end()).size() == static_cast<size_t>(classes));
  CHECK(tr.x != va.x);

  std::vector<double> centre(static_cast<size_t>(classes * dim), 0.0);
  std::vector<double> count(static_cast<size_t>(classes), 0.0);
  for (size_t i = 0; i < tr.labels.size(); ++i) {
    count[static_cast<size_t>(tr.labels[i])] += 1;
    for (int64_t j = 0; j < dim; ++j)
      centre[static_cast<size_t>(tr.labels[i] * dim + j)] += tr.x[i * dim + static_cast<size_t>(j)];
  }
  for (size_t k = 0; k < centre.size(); ++k) centre[k] /= count[k / static_cast<size_t>(dim)];
  int correct = 0;
  for (size_t i = 0; i < va.labels.size(); ++i) {
    int best = 0;
    double best_d = 1e300;
    for (int c = 0; c < classes; ++c) {
      double dd = 0;
      for (int64_t j = 0; j < dim; ++j) {
        const double diff = va.x[i * dim + static_cast<size_t>(j)] - centre[static_cast<size_t>(c * dim + j)];
        dd += diff * diff;
      }
      if (dd < best_d) best_d = dd, best = c;
    }
    correct += best == va.labels[i];
  }
  CHECK(correct > 0.95 * 500);
}

TEST_CASE("synthetic regression: a least-squares fit on train predicts val") {
  TempDir d;
  const size_t dim = 4, out = 2;
  write_synthetic_regression(d.file("r.h5"), 400, 100, dim, out, 3);
  Split s(d.file("r.h5"), {"/train/x", "/train/y"}, true);
  CHECK_FALSE(s.has_labels());
  CHECK_NOTHROW(s.check_targets({2}));
  const All tr = read_all(d.file("r.h5"), "train");
  const All va = read_all(d.file("r.h5"), "val");
  const size_t n = dim + 1;  // weights and bias
  double mse = 0, var = 0;
  for (size_t o = 0; o < out; ++o) {
    std::vector<double> A(n * n, 0.0), b(n, 0.0);
    for (size_t i = 0; i < 400; ++i) {
      std::vector<double> f(tr.x.begin() + static_cast<long>(i * dim), tr.x.begin() + static_cast<long>((i + 1) * dim));
      f.push_back(1.0);
      for (size_t r = 0; r < n; ++r) {
        b[r] += f[r] * tr.targets[i * out + o];
        for (size_t c = 0; c < n; ++c) A[r * n + c] += f[r] * f[c];
      }
    }
    const auto z = solve(A, b, n);
    for (size_t i = 0; i < 100; ++i) {
      double pred = z[dim];
      for (size_t j = 0; j < dim; ++j) pred += z[j] * va.x[i * dim + j];
      const double y = va.targets[i * out + o];
      mse += (pred - y) * (pred - y);
      var += y * y;
    }
  }
  CHECK(mse / 200 < 2e-4);  // noise variance is 1e-4
  CHECK(var / 200 > 0.1);   // targets carry signal
}

TEST_CASE("synthetic writers reject impossible sizes") {
  TempDir d;
  CHECK_THROWS_AS(write_synthetic_classification(d.file("x.h5"), 0, 10, 4, 2, 0), DataError);
  CHECK_THROWS_AS(write_synthetic_regression(d.file("x.h5"), 10, 10, 0, 2, 0), DataError);
}
