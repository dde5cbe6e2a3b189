// split.cpp: opening a split with its structural checks, and reading samples by index.
#include "data/split.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "core/error.h"

namespace mp {

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
  if (x_.row_numel() == 0) {
    throw DataError(where(x_) + "expected samples with at least one value, found per-sample shape " +
                    shape_str(x_.row_shape()) + "; fix the dataset's shape");
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
  if (!labels && !targets) return;
  std::vector<unsigned char> raw(n * y_.row_bytes());
  y_.read_rows(idx, n, raw.data());
  const size_t yn = n * static_cast<size_t>(y_.row_numel());
  if (labels) {
    MP_CHECK(has_labels(), "Split::read: labels requested from float targets");
    MP_CHECK(y_.row_numel() == 1, "Split::read: labels need one value per sample");
    for (size_t i = 0; i < yn; ++i) {
      const int64_t v = elem_to_int64(y_.kind(), raw.data(), i);
      labels[i] = static_cast<int32_t>(std::clamp<int64_t>(
          v, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()));
    }
  }
  if (targets) convert_to_float(y_.kind(), raw.data(), yn, 1.0, targets);
}

}  // namespace mp
