// tensor.h: a typed, shaped view into reference-counted storage on one device.
// Tensors are always contiguous (row-major); views share storage (reshape, row ranges).
// Storage is allocated by a Backend (backend/backend.h); core never calls a device API.
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/half.h"

namespace mp {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& s);
std::string shape_str(const Shape& s);  // "[256, 784]"

// Owned device or host memory; freed by the deleter given by the allocating backend.
class Storage {
 public:
  Storage(void* ptr, size_t bytes, Device dev, std::function<void(void*)> deleter)
      : ptr_(ptr), bytes_(bytes), dev_(dev), deleter_(std::move(deleter)) {}
  ~Storage() {
    if (deleter_) deleter_(ptr_);
  }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* ptr() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return dev_; }

 private:
  void* ptr_;
  size_t bytes_;
  Device dev_;
  std::function<void(void*)> deleter_;
};

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<half>() { return DType::F16; }
template <> constexpr DType dtype_of<bfloat16>() { return DType::BF16; }
template <> constexpr DType dtype_of<int32_t>() { return DType::I32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::I64; }

class Tensor {
 public:
  Tensor() = default;
  Tensor(std::shared_ptr<Storage> storage, size_t offset_bytes, Shape shape, DType dtype);

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::CPU; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const;  // negative i counts from the end
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }
  // rows = product of all but the last dim; cols = last dim (1 for a scalar). Both are defined
  // when the last dim is 0 ([4, 0] has 4 rows of 0 columns).
  int64_t rows() const {
    int64_t r = 1;
    for (size_t i = 0; i + 1 < shape_.size(); ++i) r *= shape_[i];
    return r;
  }
  int64_t cols() const { return shape_.empty() ? 1 : shape_.back(); }

  void* raw() const { return storage_ ? static_cast<char*>(storage_->ptr()) + offset_ : nullptr; }
  template <class T> T* data() const {
    MP_CHECK(dtype_of<T>() == dtype_, "tensor dtype is " + std::string(dtype_name(dtype_)));
    return static_cast<T*>(raw());
  }

  // Same storage, new shape with the same element count.
  Tensor reshape(Shape s) const;
  // Rows [begin, end) along the first dimension, sharing storage.
  Tensor slice_rows(int64_t begin, int64_t end) const;
  // This tensor's elements taken flat (row-major): `n` of them starting at element `start`, as a
  // 1-d view sharing storage. Bounds are this tensor's, not the whole storage's.
  Tensor flat_range(int64_t start, int64_t n) const;

  const std::shared_ptr<Storage>& storage() const { return storage_; }
  std::string describe() const;  // "bf16[256, 784] on cpu"

 private:
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;
  Shape shape_;
  DType dtype_ = DType::F32;
  int64_t numel_ = 0;
};

}  // namespace mp
