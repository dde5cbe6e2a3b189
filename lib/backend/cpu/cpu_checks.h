// cpu_checks.h: the shared op argument checks (backend/op_checks.h) bound to the CPU device.
#pragma once
#include "backend/op_checks.h"

namespace mp::cpu {

inline void check_defined(const Tensor& t, const char* op, const char* arg) {
  op_checks::check_defined(t, Device::CPU, op, arg);
}
inline void check_float(const Tensor& t, const char* op, const char* arg) {
  op_checks::check_float(t, Device::CPU, op, arg);
}
inline void check_dtype(const Tensor& t, DType dt, const char* op, const char* arg) {
  op_checks::check_dtype(t, dt, Device::CPU, op, arg);
}
using op_checks::check_numel;

}  // namespace mp::cpu
