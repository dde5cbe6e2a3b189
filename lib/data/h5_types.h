// h5_types.h: the element types the data layer reads, how each is recognised in an HDF5 file,
// the in-memory HDF5 type it is read as, and its conversion to float32 / int64.
//   inputs (x):  uint8, int8, uint16, int16, float16 (IEEE half), bfloat16, float32, float64
//   labels (y):  any integer width up to 64 bits (classification)
//   targets (y): any of the float types above (regression)
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <string>

#include "data/h5_handle.h"

namespace mp {

enum class ElemKind : uint8_t { U8, I8, U16, I16, I32, I64, U32, U64, F16, BF16, F32, F64 };

// "uint8", "float16", ...: the names numpy and h5py users know.
const char* elem_kind_name(ElemKind k);
size_t elem_kind_size(ElemKind k);
bool elem_kind_is_float(ElemKind k);

// The kind of an HDF5 datatype, or nullopt for anything this layer cannot read (strings,
// compounds, enums, floats of other layouts, ...).
std::optional<ElemKind> classify_h5_type(hid_t type);

// A readable description of any HDF5 datatype for messages and `inspect`: "uint8", "float16",
// "string", "compound{a: float32, b: int64}", "float(size 3)".
std::string describe_h5_type(hid_t type);

// The in-memory type a kind is read into (native byte order, same size as the kind).
H5Handle memory_type(ElemKind k);

// File types for writing 16-bit floats in the layout h5py/numpy use (IEEE half) and bfloat16.
H5Handle h5_float16_type();
H5Handle h5_bfloat16_type();

// Element i of a buffer holding `k` values, as float (exact for every kind up to 24 bits of
// mantissa; float64 rounds to nearest) or as int64 (integer kinds only).
float elem_to_float(ElemKind k, const void* buf, size_t i);
int64_t elem_to_int64(ElemKind k, const void* buf, size_t i);

// dst[i] = float(src[i] * scale) for n elements, the product taken in double and rounded once
// (so uint8 255 with scale 1/255 gives exactly 1.0f); scale == 1 copies float inputs exactly.
void convert_to_float(ElemKind k, const void* src, size_t n, double scale, float* dst);

}  // namespace mp
