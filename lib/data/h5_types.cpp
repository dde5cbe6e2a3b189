// h5_types.cpp: recognising, naming and converting the element types of data files.
#include "data/h5_types.h"

#include <cstring>

#include "core/error.h"
#include "core/half.h"

namespace mp {

const char* elem_kind_name(ElemKind k) {
  switch (k) {
    case ElemKind::U8: return "uint8";
    case ElemKind::I8: return "int8";
    case ElemKind::U16: return "uint16";
    case ElemKind::I16: return "int16";
    case ElemKind::I32: return "int32";
    case ElemKind::I64: return "int64";
    case ElemKind::U32: return "uint32";
    case ElemKind::U64: return "uint64";
    case ElemKind::F16: return "float16";
    case ElemKind::BF16: return "bfloat16";
    case ElemKind::F32: return "float32";
    case ElemKind::F64: return "float64";
  }
  return "?";
}

size_t elem_kind_size(ElemKind k) {
  switch (k) {
    case ElemKind::U8:
    case ElemKind::I8: return 1;
    case ElemKind::U16:
    case ElemKind::I16:
    case ElemKind::F16:
    case ElemKind::BF16: return 2;
    case ElemKind::I32:
    case ElemKind::U32:
    case ElemKind::F32: return 4;
    case ElemKind::I64:
    case ElemKind::U64:
    case ElemKind::F64: return 8;
  }
  return 0;
}

bool elem_kind_is_float(ElemKind k) {
  return k == ElemKind::F16 || k == ElemKind::BF16 || k == ElemKind::F32 || k == ElemKind::F64;
}

namespace {

struct FloatLayout {
  size_t spos, epos, esize, mpos, msize, ebias;
};

std::optional<FloatLayout> float_layout(hid_t type) {
  FloatLayout l{};
  if (H5Tget_fields(type, &l.spos, &l.epos, &l.esize, &l.mpos, &l.msize) < 0) return std::nullopt;
  l.ebias = H5Tget_ebias(type);
  if (H5Tget_offset(type) != 0) return std::nullopt;
  return l;
}

bool is_layout(const FloatLayout& l, FloatLayout want) {
  return l.spos == want.spos && l.epos == want.epos && l.esize == want.esize &&
         l.mpos == want.mpos && l.msize == want.msize && l.ebias == want.ebias;
}

constexpr FloatLayout kHalf{15, 10, 5, 0, 10, 15};
constexpr FloatLayout kBf16{15, 7, 8, 0, 7, 127};
constexpr FloatLayout kF32{31, 23, 8, 0, 23, 127};
constexpr FloatLayout kF64{63, 52, 11, 0, 52, 1023};

H5Handle float16_like(const FloatLayout& l) {
  h5_silence_errors();
  H5Handle t(H5Tcopy(H5T_IEEE_F32LE));
  MP_CHECK(t.valid(), "H5Tcopy failed");
  MP_CHECK(H5Tset_fields(t.get(), l.spos, l.epos, l.esize, l.mpos, l.msize) >= 0, "H5Tset_fields");
  MP_CHECK(H5Tset_size(t.get(), 2) >= 0, "H5Tset_size");
  MP_CHECK(H5Tset_ebias(t.get(), l.ebias) >= 0, "H5Tset_ebias");
  if (H5Tget_order(H5T_NATIVE_FLOAT) == H5T_ORDER_BE) H5Tset_order(t.get(), H5T_ORDER_BE);
  return t;
}

}  // namespace

std::optional<ElemKind> classify_h5_type(hid_t type) {
  h5_silence_errors();
  const H5T_class_t cls = H5Tget_class(type);
  const size_t size = H5Tget_size(type);
  if (cls == H5T_INTEGER) {
    if (H5Tget_precision(type) != 8 * size || H5Tget_offset(type) != 0) return std::nullopt;
    const bool is_signed = H5Tget_sign(type) == H5T_SGN_2;
    switch (size) {
      case 1: return is_signed ? ElemKind::I8 : ElemKind::U8;
      case 2: return is_signed ? ElemKind::I16 : ElemKind::U16;
      case 4: return is_signed ? ElemKind::I32 : ElemKind::U32;
      case 8: return is_signed ? ElemKind::I64 : ElemKind::U64;
      default: return std::nullopt;
    }
  }
  if (cls == H5T_FLOAT) {
    const auto l = float_layout(type);
    if (!l) return std::nullopt;
    if (size == 2 && is_layout(*l, kHalf)) return ElemKind::F16;
    if (size == 2 && is_layout(*l, kBf16)) return ElemKind::BF16;
    if (size == 4 && is_layout(*l, kF32)) return ElemKind::F32;
    if (size == 8 && is_layout(*l, kF64)) return ElemKind::F64;
  }
  return std::nullopt;
}

std::string describe_h5_type(hid_t type) {
  h5_silence_errors();
  if (const auto k = classify_h5_type(type)) return elem_kind_name(*k);
  const size_t size = H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_STRING: return H5Tis_variable_str(type) > 0 ? "string" : "string(" + std::to_string(size) + ")";
    case H5T_INTEGER: return "integer(" + std::to_string(8 * size) + " bits, padded)";
    case H5T_FLOAT: return "float(" + std::to_string(8 * size) + " bits, nonstandard layout)";
    case H5T_ENUM: return "enum";
    case H5T_BITFIELD: return "bitfield";
    case H5T_OPAQUE: return "opaque";
    case H5T_REFERENCE: return "reference";
    case H5T_VLEN: return "vlen";
    case H5T_TIME: return "time";
    case H5T_ARRAY: return "array";
    case H5T_COMPOUND: {
      std::string s = "compound{";
      const int n = H5Tget_nmembers(type);
      for (int i = 0; i < n; ++i) {
        char* name = H5Tget_member_name(type, static_cast<unsigned>(i));
        H5Handle mt(H5Tget_member_type(type, static_cast<unsigned>(i)));
        s += (i ? ", " : "") + std::string(name ? name : "?") + ": " +
             (mt.valid() ? describe_h5_type(mt.get()) : "?");
        H5free_memory(name);
      }
      return s + "}";
    }
    default: return "unknown";
  }
}

H5Handle memory_type(ElemKind k) {
  h5_silence_errors();
  switch (k) {
    case ElemKind::U8: return H5Handle(H5Tcopy(H5T_NATIVE_UINT8));
    case ElemKind::I8: return H5Handle(H5Tcopy(H5T_NATIVE_INT8));
    case ElemKind::U16: return H5Handle(H5Tcopy(H5T_NATIVE_UINT16));
    case ElemKind::I16: return H5Handle(H5Tcopy(H5T_NATIVE_INT16));
    case ElemKind::I32: return H5Handle(H5Tcopy(H5T_NATIVE_INT32));
    case ElemKind::U32: return H5Handle(H5Tcopy(H5T_NATIVE_UINT32));
    case ElemKind::I64: return H5Handle(H5Tcopy(H5T_NATIVE_INT64));
    case ElemKind::U64: return H5Handle(H5Tcopy(H5T_NATIVE_UINT64));
    case ElemKind::F16: return float16_like(kHalf);
    case ElemKind::BF16: return float16_like(kBf16);
    case ElemKind::F32: return H5Handle(H5Tcopy(H5T_NATIVE_FLOAT));
    case ElemKind::F64: return H5Handle(H5Tcopy(H5T_NATIVE_DOUBLE));
  }
  MP_CHECK(false, "unknown ElemKind");
  return H5Handle();
}

H5Handle h5_float16_type() { return float16_like(kHalf); }
H5Handle h5_bfloat16_type() { return float16_like(kBf16); }

namespace {
template <class T> T load(const void* buf, size_t i) {
  T v;
  std::memcpy(&v, static_cast<const char*>(buf) + i * sizeof(T), sizeof(T));
  return v;
}

double elem_to_double(ElemKind k, const void* buf, size_t i) {
  switch (k) {
    case ElemKind::U8: return load<uint8_t>(buf, i);
    case ElemKind::I8: return load<int8_t>(buf, i);
    case ElemKind::U16: return load<uint16_t>(buf, i);
    case ElemKind::I16: return load<int16_t>(buf, i);
    case ElemKind::I32: return load<int32_t>(buf, i);
    case ElemKind::U32: return load<uint32_t>(buf, i);
    case ElemKind::I64: return static_cast<double>(load<int64_t>(buf, i));
    case ElemKind::U64: return static_cast<double>(load<uint64_t>(buf, i));
    case ElemKind::F16: return half_bits_to_float(load<uint16_t>(buf, i));
    case ElemKind::BF16: return bf16_bits_to_float(load<uint16_t>(buf, i));
    case ElemKind::F32: return load<float>(buf, i);
    case ElemKind::F64: return load<double>(buf, i);
  }
  return 0.0;
}

// The loop for one source type T, specialised so the compiler vectorises the common cases.
template <class T, class Load>
void convert_loop(const void* src, size_t n, double scale, float* dst, Load ld) {
  const T* s = static_cast<const T*>(src);
  if (scale == 1.0) {
    for (size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(ld(s[i]));
  } else {
    for (size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(static_cast<double>(ld(s[i])) * scale);
  }
}
}  // namespace

float elem_to_float(ElemKind k, const void* buf, size_t i) {
  return static_cast<float>(elem_to_double(k, buf, i));
}

int64_t elem_to_int64(ElemKind k, const void* buf, size_t i) {
  MP_CHECK(!elem_kind_is_float(k), "elem_to_int64 on a float kind");
  if (k == ElemKind::U64) {
    const uint64_t v = load<uint64_t>(buf, i);
    return v > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(v);
  }
  if (k == ElemKind::I64) return load<int64_t>(buf, i);
  return static_cast<int64_t>(elem_to_double(k, buf, i));
}

void convert_to_float(ElemKind k, const void* src, size_t n, double scale, float* dst) {
  const auto id = [](auto v) { return v; };
  switch (k) {
    case ElemKind::U8: return convert_loop<uint8_t>(src, n, scale, dst, id);
    case ElemKind::I8: return convert_loop<int8_t>(src, n, scale, dst, id);
    case ElemKind::U16: return convert_loop<uint16_t>(src, n, scale, dst, id);
    case ElemKind::I16: return convert_loop<int16_t>(src, n, scale, dst, id);
    case ElemKind::I32: return convert_loop<int32_t>(src, n, scale, dst, [](int32_t v) { return double(v); });
    case ElemKind::U32: return convert_loop<uint32_t>(src, n, scale, dst, [](uint32_t v) { return double(v); });
    case ElemKind::I64: return convert_loop<int64_t>(src, n, scale, dst, [](int64_t v) { return double(v); });
    case ElemKind::U64: return convert_loop<uint64_t>(src, n, scale, dst, [](uint64_t v) { return double(v); });
    case ElemKind::F16: return convert_loop<uint16_t>(src, n, scale, dst, half_bits_to_float);
    case ElemKind::BF16: return convert_loop<uint16_t>(src, n, scale, dst, bf16_bits_to_float);
    case ElemKind::F32: return convert_loop<float>(src, n, scale, dst, id);
    case ElemKind::F64: return convert_loop<double>(src, n, scale, dst, id);
  }
}

}  // namespace mp
