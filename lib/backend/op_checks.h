// op_checks.h: the argument checks of Backend's ops (backend.cpp runs them before an engine hook).
// A failed check is a bug in the caller (a layer passing a wrong tensor), so it is an MP_CHECK
// naming the op, the argument, what was expected and what was passed. Also the one data error an
// op raises (a class label out of range), shared by the engines that detect it.
#pragma once
#include <string>

#include "core/tensor.h"

namespace mp::op_checks {

inline void check_defined(const Tensor& t, Device dev, const char* op, const char* arg) {
  MP_CHECK(t.defined(), std::string(op) + ": " + arg + " is an undefined tensor");
  MP_CHECK(t.device() == dev, std::string(op) + ": " + arg + " is " + t.describe() +
                                  ", expected a " + std::string(device_name(dev)) + " tensor");
}

inline void check_float(const Tensor& t, Device dev, const char* op, const char* arg) {
  check_defined(t, dev, op, arg);
  MP_CHECK(is_float(t.dtype()), std::string(op) + ": " + arg + " must be fp32, fp16 or bf16, got " +
                                    t.describe());
}

inline void check_dtype(const Tensor& t, DType dt, Device dev, const char* op, const char* arg) {
  check_defined(t, dev, op, arg);
  MP_CHECK(t.dtype() == dt, std::string(op) + ": " + arg + " must be " +
                                std::string(dtype_name(dt)) + ", got " + t.describe());
}

inline void check_numel(const Tensor& t, int64_t n, const char* op, const char* arg) {
  MP_CHECK(t.numel() == n, std::string(op) + ": " + arg + " has " + std::to_string(t.numel()) +
                               " elements (" + t.describe() + "), expected " + std::to_string(n));
}

inline void check_rows(const Tensor& t, int64_t rows, int64_t cols, const char* op, const char* arg) {
  MP_CHECK(t.numel() == rows * cols, std::string(op) + ": " + arg + " is " + t.describe() +
                                         ", expected " + std::to_string(rows) + " x " +
                                         std::to_string(cols) + " elements");
}

inline void check_same_numel(const Tensor& a, const Tensor& b, const char* op, const char* an,
                             const char* bn) {
  MP_CHECK(a.numel() == b.numel(), std::string(op) + ": " + an + " " + a.describe() + " and " + bn +
                                       " " + b.describe() + " must have the same element count");
}

// softmax_xent's error for labels[row] == label, neither in [0, C) nor ignore_index.
inline DataError bad_label(int64_t row, int32_t label, int64_t C, int32_t ignore_index) {
  return DataError("labels: row " + std::to_string(row) + " of the batch has class " +
                   std::to_string(label) + ", expected an integer in [0, " + std::to_string(C) +
                   ") (the model has " + std::to_string(C) + " outputs) or the ignore_index " +
                   std::to_string(ignore_index) +
                   "; check the data set's label range against the model's last layer");
}

}  // namespace mp::op_checks
