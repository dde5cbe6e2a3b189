// op_checks.h: argument checks shared by every backend's ops. A failed check is a bug in the
// caller (a layer passing a wrong tensor), so it is an MP_CHECK naming the op, the argument, what
// was expected and what was passed. Each backend binds its own device (cpu_checks.h, cuda_backend.h).
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

}  // namespace mp::op_checks
