// split.cpp: opening a split with its structural checks, and reading samples by index.
#include "data/split.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "core/error.h"
#include "data/finite_scan.h"

namespace mp {

namespace {

// DataError at the first NaN/Inf among n rows of `row_numel` values converted from `kind` and
// multiplied by `scale`, naming the sample's row in the split. Batches are checked as they load
// (in the prefetch thread, so the check overlaps the step): a NaN input passes ReLU as 0 and
// leaves the loss finite while the weight gradients are NaN, so without it a run skips every
// step and looks like an fp16 overflow.
void require_finite(const std::string& where, const std::string& role, const char* what,
                    const float* v, size_t n, int64_t row_numel, const int64_t* idx,
                    ElemKind kind, double scale) {
  const int64_t i = first_nonfinite(v, n * static_cast<size_t>(row_numel));
  if (i < 0) return;
  const std::string how = scale != 1.0 ? " (after scaling by data.input_scale " + std::to_string(scale) + ")"
                          : kind == ElemKind::F64 ? " (after conversion to float32)"
                                                  : "";
  throw DataError(where + "expected finite " + what + ", found " + nonfinite_name(v[i]) + how +
                  " at sample " + std::to_string(idx[i / row_numel]) + " (element " +
                  std::to_string(i % row_numel) + " of the sample) while loading a batch" +
                  (role.empty() ? "" : " of the " + role + " split") +
                  "; clean the data (data.check_finite: true scans every split before training "
                  "and names the first such sample)");
}

}  // namespace

Split::Split(const std::string& file, const SplitSpec& paths, bool in_memory)
    : file_(file),
      paths_(paths),
      h5file_(h5_open_read(file)),
      x_(h5file_.get(), file, paths.x, in_memory),
      y_(h5file_.get(), file, paths.y, in_memory) {
  if (x_.rows() != y_.rows()) {
    throw DataError(file + ": split " + paths.x + " / " + paths.y + ": expected as many labels as "
                    "samples, found " + std::to_string(x_.rows()) + " rows in " + paths.x +
                    " and " + std::to_string(y_.rows()) + " in " + paths.y +
                    "; rewrite the file so both have one row per sample");
  }
  if (x_.rows() == 0) {
    throw DataError(where(x_) + "expected at least one sample, found an empty split (shape " +
                    shape_str(x_.shape()) + "); fill the split or point the run spec at another");
  }
  if (x_.shape().size() == 1) {
    throw DataError(where(x_) + "expected inputs of shape [N, ...] (at least one dimension per "
                    "sample), found shape " + shape_str(x_.shape()) + ": one bare value per "
                    "sample; store x as [N, 1] (numpy: x[:, None])");
  }
  if (x_.row_numel() == 0) {
    throw DataError(where(x_) + "expected samples with at least one value, found per-sample shape " +
                    shape_str(x_.row_shape()) + "; fix the dataset's shape");
  }
}

void Split::check_label_layout() const {
  if (has_labels() && y_.row_numel() != 1 && y_.row_shape() != x_.row_shape()) {
    throw DataError(where(y_) + "expected one integer label per sample (shape [N] or [N, 1]) or "
                    "one per input token (shape [N, T] like " + paths_.x + " " +
                    shape_str(x_.shape()) + "), found shape " + shape_str(y_.shape()) +
                    "; store class indices (not one-hot rows), or next-token ids shaped like x");
  }
}

std::shared_ptr<const Split> Split::open(const std::string& file, const SplitSpec& paths,
                                         bool in_memory) {
  return std::make_shared<const Split>(file, paths, in_memory);
}

void Split::read(const int64_t* idx, size_t n, double input_scale, float* x, int32_t* labels,
                 float* targets) const {
  if (n == 0) return;
  const size_t xn = n * static_cast<size_t>(x_.row_numel());
  if (x_.kind() == ElemKind::F32) {  // read straight into the output, scale in place
    x_.read_rows(idx, n, x);
    if (input_scale != 1.0) convert_to_float(ElemKind::F32, x, xn, input_scale, x);
  } else {
    std::vector<unsigned char> raw(n * x_.row_bytes());
    x_.read_rows(idx, n, raw.data());
    convert_to_float(x_.kind(), raw.data(), xn, input_scale, x);
  }
  require_finite(where(x_), paths_.role, "inputs", x, n, x_.row_numel(), idx, x_.kind(), input_scale);
  if (!labels && !targets) return;
  std::vector<unsigned char> raw(n * y_.row_bytes());
  y_.read_rows(idx, n, raw.data());
  const size_t yn = n * static_cast<size_t>(y_.row_numel());
  if (labels) {
    MP_CHECK(has_labels(), "Split::read: labels requested from float targets");
    for (size_t i = 0; i < yn; ++i) {
      const int64_t v = elem_to_int64(y_.kind(), raw.data(), i);
      labels[i] = static_cast<int32_t>(std::clamp<int64_t>(
          v, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()));
    }
  }
  if (targets) {
    convert_to_float(y_.kind(), raw.data(), yn, 1.0, targets);
    require_finite(where(y_), paths_.role, "targets", targets, n, y_.row_numel(), idx, y_.kind(), 1.0);
  }
}

}  // namespace mp
