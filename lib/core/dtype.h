// dtype.h: element types and devices a Tensor can hold, with names used in specs and files.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace mp {

enum class DType : uint8_t { F32, F16, BF16, I32, I64 };
enum class Device : uint8_t { CPU, CUDA };

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::I32: return 4;
    case DType::I64: return 8;
  }
  return 0;
}

constexpr bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

// "fp32", "fp16", "bf16", "int32", "int64": the spelling used in run specs and checkpoints.
constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "fp32";
    case DType::F16: return "fp16";
    case DType::BF16: return "bf16";
    case DType::I32: return "int32";
    case DType::I64: return "int64";
  }
  return "?";
}

constexpr std::optional<DType> parse_dtype(std::string_view s) {
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::I32, DType::I64})
    if (dtype_name(t) == s) return t;
  return std::nullopt;
}

// Largest finite value of a float dtype (65504 for fp16).
constexpr double dtype_max(DType t) {
  switch (t) {
    case DType::F16: return 65504.0;
    case DType::BF16: return 3.3895313892515355e38;
    default: return 3.4028234663852886e38;
  }
}

// Smallest positive (subnormal) value of a float dtype: anything below half of it rounds to 0.
constexpr double dtype_min_subnormal(DType t) {
  switch (t) {
    case DType::F16: return 5.960464477539063e-08;  // 2^-24
    case DType::BF16: return 9.183549615799121e-41; // 2^-133
    default: return 1.401298464324817e-45;          // 2^-149
  }
}

constexpr std::string_view device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

}  // namespace mp
