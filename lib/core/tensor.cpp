#include "core/tensor.h"

#include <sstream>

namespace mp {

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::ostringstream o;
  o << '[';
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << ']';
  return o.str();
}

Tensor::Tensor(std::shared_ptr<Storage> storage, size_t offset_bytes, Shape shape, DType dtype)
    : storage_(std::move(storage)), offset_(offset_bytes), shape_(std::move(shape)), dtype_(dtype) {
  numel_ = 1;
  for (int64_t d : shape_) {
    MP_CHECK(d >= 0, "negative dimension in " + shape_str(shape_));
    MP_CHECK(!__builtin_mul_overflow(numel_, d, &numel_),
             "element count overflows in " + shape_str(shape_));
  }
  MP_CHECK(static_cast<uint64_t>(numel_) <= SIZE_MAX / dtype_size(dtype_),
           "tensor " + shape_str(shape_) + " is too large");
  MP_CHECK(!storage_ || (offset_ <= storage_->bytes() && nbytes() <= storage_->bytes() - offset_),
           "tensor " + shape_str(shape_) + " exceeds its storage");
}

int64_t Tensor::dim(int i) const {
  const int n = ndim();
  if (i < 0) i += n;
  MP_CHECK(i >= 0 && i < n, "dim index out of range for " + shape_str(shape_));
  return shape_[static_cast<size_t>(i)];
}

Tensor Tensor::reshape(Shape s) const {
  MP_CHECK(shape_numel(s) == numel_, "reshape " + shape_str(shape_) + " -> " + shape_str(s));
  return Tensor(storage_, offset_, std::move(s), dtype_);
}

Tensor Tensor::slice_rows(int64_t begin, int64_t end) const {
  MP_CHECK(ndim() >= 1 && 0 <= begin && begin <= end && end <= shape_[0],
           "slice_rows out of range for " + shape_str(shape_));
  const int64_t row = shape_[0] ? numel_ / shape_[0] : 0;
  Shape s = shape_;
  s[0] = end - begin;
  return Tensor(storage_, offset_ + static_cast<size_t>(begin * row) * dtype_size(dtype_), s, dtype_);
}

Tensor Tensor::flat_range(int64_t start, int64_t n) const {
  MP_CHECK(start >= 0 && n >= 0 && start <= numel_ && n <= numel_ - start,
           "flat_range [" + std::to_string(start) + ", +" + std::to_string(n) + ") out of range for " +
               shape_str(shape_));
  return Tensor(storage_, offset_ + static_cast<size_t>(start) * dtype_size(dtype_), Shape{n}, dtype_);
}

std::string Tensor::describe() const {
  return std::string(dtype_name(dtype_)) + shape_str(shape_) + " on " + std::string(device_name(device()));
}

}  // namespace mp
