// split_checks.cpp: the content checks of a split — input shape against the model, labels in
// range, target shape, first and last sample readable, finite inputs — each a DataError naming
// the file, dataset and sample.
#include <algorithm>
#include <vector>

#include "core/error.h"
#include "data/finite_scan.h"
#include "data/split.h"

namespace mp {

namespace {

// Rows per block when scanning a whole split: about 16 MiB of raw data, at least one row.
int64_t scan_block_rows(const H5Array& a) {
  const size_t rb = std::max<size_t>(a.row_bytes(), 1);
  return std::max<int64_t>(1, static_cast<int64_t>((16u << 20) / rb));
}

// Calls fn(row, raw block pointer, rows in block) over the whole array, block by block.
template <class Fn> void scan_rows(const H5Array& a, Fn fn) {
  const int64_t step = scan_block_rows(a);
  std::vector<unsigned char> buf(static_cast<size_t>(std::min(step, a.rows())) * a.row_bytes());
  for (int64_t b = 0; b < a.rows(); b += step) {
    const int64_t e = std::min(a.rows(), b + step);
    a.read_range(b, e, buf.data());
    fn(b, buf.data(), e - b);
  }
}

bool same_per_sample(const Shape& a, const Shape& b) {
  auto norm = [](const Shape& s) { return s.empty() ? Shape{1} : s; };
  return norm(a) == norm(b);
}

}  // namespace

void Split::check_input_shape(const Shape& expected) const {
  const Shape have = sample_shape();
  if (have == expected) return;
  std::string hint;
  if (shape_numel(have) == shape_numel(expected)) {
    hint = " (same number of values: set model.input_shape: " + shape_str(have) +
           " and add a reshape, or store x as " + shape_str(Shape{size()}) + " + " +
           shape_str(expected) + ")";
  }
  throw DataError(where(x_) + "expected per-sample input shape " + shape_str(expected) +
                  " (the model's input), found " + shape_str(have) + " (dataset shape " +
                  shape_str(x_.shape()) + ")" + hint +
                  "; make model.input_shape match the data or point data.file at matching data");
}

void Split::check_labels(int64_t num_classes, int64_t ignore_index, int64_t per_sample) const {
  MP_CHECK(num_classes >= 1, "check_labels: num_classes must be positive");
  if (!has_labels()) {
    throw DataError(where(y_) + "expected integer class labels for a classification loss, found " +
                    std::string(elem_kind_name(y_.kind())) +
                    " targets; store labels as integers, or use a regression loss (mse)");
  }
  if (y_.row_numel() != per_sample) {
    throw DataError(where(y_) + (per_sample == 1
        ? "expected one integer label per sample (shape [N] or [N, 1]), found shape " +
              shape_str(y_.shape()) + "; store class indices, not one-hot rows"
        : "expected " + std::to_string(per_sample) + " integer labels per sample (one per "
              "position of the model's [" + std::to_string(per_sample) + ", " +
              std::to_string(num_classes) + "] output: shape [N, " + std::to_string(per_sample) +
              "]), found shape " + shape_str(y_.shape()) +
              "; store next-token ids shaped like the inputs, or fix model.input_shape"));
  }
  const ElemKind k = y_.kind();
  int64_t kept = 0;
  scan_rows(y_, [&](int64_t row0, const unsigned char* raw, int64_t n) {
    for (int64_t i = 0; i < n * per_sample; ++i) {
      const int64_t v = elem_to_int64(k, raw, static_cast<size_t>(i));
      if (v == ignore_index) continue;
      if (v >= 0 && v < num_classes) {
        ++kept;
        continue;
      }
      const std::string at = std::to_string(row0 + i / per_sample) +
                             (per_sample == 1 ? "" : ", position " + std::to_string(i % per_sample));
      throw DataError(where(y_) + "label " + std::to_string(v) + " at sample " + at +
                      " is out of range: expected 0.." +
                      std::to_string(num_classes - 1) + " for " + std::to_string(num_classes) +
                      " classes" + " (or ignore_index " + std::to_string(ignore_index) +
                      "); fix the labels, or set model.num_classes / the last layer's width to "
                      "cover them");
    }
  });
  if (kept > 0) return;
  const bool val = paths_.role == "validation";
  throw DataError(where(y_) + "every one of its " + std::to_string(size()) +
                  " labels is ignore_index (" + std::to_string(ignore_index) + "), so the " +
                  (paths_.role.empty() ? std::string("split") : paths_.role + " split") +
                  (val ? " measures nothing (its loss and accuracy would be 0)"
                       : " has nothing to learn from (its loss would be 0 at every step)") +
                  "; fix the labels, or set model.ignore_index to a value the data does not use" +
                  (val ? ", or set data.val.x: \"\" to run without validation" : ""));
}

void Split::check_targets(const Shape& expected) const {
  if (has_labels()) {
    throw DataError(where(y_) + "expected float regression targets, found " +
                    std::string(elem_kind_name(y_.kind())) +
                    " values; store targets as float32, or use a classification loss "
                    "(cross_entropy)");
  }
  if (!same_per_sample(target_shape(), expected)) {
    throw DataError(where(y_) + "expected per-sample target shape " + shape_str(expected) +
                    " (the model's output), found " + shape_str(target_shape()) +
                    " (dataset shape " + shape_str(y_.shape()) +
                    "); make the last layer's width match the targets");
  }
}

void Split::check_readable() const {
  const int64_t idx[2] = {0, size() - 1};
  std::vector<float> x(static_cast<size_t>(2 * sample_numel()));
  std::vector<int32_t> labels(has_labels() ? static_cast<size_t>(2 * target_numel()) : 0);
  std::vector<float> targets(has_labels() ? 0 : static_cast<size_t>(2 * target_numel()));
  read(idx, 2, 1.0, x.data(), has_labels() ? labels.data() : nullptr,
       has_labels() ? nullptr : targets.data());
}

void Split::check_finite() const {
  auto scan = [&](const H5Array& a, const char* what) {
    if (!elem_kind_is_float(a.kind())) return;
    const int64_t rn = a.row_numel();
    std::vector<float> f;
    scan_rows(a, [&](int64_t row0, const unsigned char* raw, int64_t n) {
      f.resize(static_cast<size_t>(n * rn));
      convert_to_float(a.kind(), raw, f.size(), 1.0, f.data());
      const int64_t i = first_nonfinite(f.data(), f.size());
      if (i < 0) return;
      throw DataError(where(a) + "expected finite " + what + ", found " +
                      nonfinite_name(f[static_cast<size_t>(i)]) + " at sample " +
                      std::to_string(row0 + i / rn) + " (element " + std::to_string(i % rn) +
                      " of the sample); clean the data (this scan is data.check_finite; without "
                      "it, the batch holding the sample fails when it loads)");
    });
  };
  scan(x_, "inputs");
  if (!has_labels()) scan(y_, "targets");
}

}  // namespace mp
