// core_tensor.cpp: Tensor shape bookkeeping, views sharing storage, bounds checks (MP_CHECK throws
// mp::InternalError), describe(), dtype_of and the dtype/device names.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>

#include "core/tensor.h"

using mp::DType;
using mp::Device;
using mp::InternalError;
using mp::Shape;
using mp::Storage;
using mp::Tensor;

namespace {

// Host storage of `bytes` bytes whose deleter counts how often it ran.
std::shared_ptr<Storage> host_storage(size_t bytes, int* freed = nullptr, Device dev = Device::CPU) {
  void* p = std::malloc(bytes ? bytes : 1);
  return std::make_shared<Storage>(p, bytes, dev, [freed](void* q) {
    std::free(q);
    if (freed) ++*freed;
  });
}

Tensor make(Shape s, DType t = DType::F32) {
  const size_t bytes = static_cast<size_t>(mp::shape_numel(s)) * mp::dtype_size(t);
  return Tensor(host_storage(bytes), 0, std::move(s), t);
}

}  // namespace

TEST_CASE("shape, numel, rows, cols, dim") {
  const Tensor t = make({2, 3, 4});
  CHECK(t.defined());
  CHECK(t.ndim() == 3);
  CHECK(t.numel() == 24);
  CHECK(t.nbytes() == 96);
  CHECK(t.rows() == 6);
  CHECK(t.cols() == 4);
  CHECK(t.dim(0) == 2);
  CHECK(t.dim(2) == 4);
  CHECK(t.dim(-1) == 4);
  CHECK(t.dim(-3) == 2);
  CHECK_THROWS_AS((void)t.dim(3), InternalError);
  CHECK_THROWS_AS((void)t.dim(-4), InternalError);
  CHECK(t.device() == Device::CPU);
  CHECK(t.shape() == Shape{2, 3, 4});

  const Tensor scalar = make({});
  CHECK(scalar.ndim() == 0);
  CHECK(scalar.numel() == 1);
  CHECK(scalar.rows() == 1);
  CHECK(scalar.cols() == 1);
  CHECK_THROWS_AS((void)scalar.dim(0), InternalError);

  const Tensor vec = make({7}, DType::BF16);
  CHECK(vec.rows() == 1);
  CHECK(vec.cols() == 7);
  CHECK(vec.nbytes() == 14);

  // zero-sized dimensions: rows and cols stay meaningful, nothing divides by zero
  const Tensor no_cols = make({4, 0});
  CHECK(no_cols.numel() == 0);
  CHECK(no_cols.rows() == 4);
  CHECK(no_cols.cols() == 0);
  const Tensor no_rows = make({0, 5});
  CHECK(no_rows.numel() == 0);
  CHECK(no_rows.rows() == 0);
  CHECK(no_rows.cols() == 5);
  CHECK(make({3, 0, 2}).rows() == 0);

  const Tensor undef;
  CHECK_FALSE(undef.defined());
  CHECK(undef.raw() == nullptr);
  CHECK(undef.numel() == 0);

  CHECK(mp::shape_numel({}) == 1);
  CHECK(mp::shape_numel({5, 0, 3}) == 0);
  CHECK(mp::shape_str({256, 784}) == "[256, 784]");
  CHECK(mp::shape_str({}) == "[]");
  CHECK(mp::shape_str({3}) == "[3]");
}

TEST_CASE("constructor checks: storage size, offset, negative or overflowing dims") {
  auto st = host_storage(64);  // room for 16 floats
  CHECK_NOTHROW(Tensor(st, 0, {4, 4}, DType::F32));
  CHECK_NOTHROW(Tensor(st, 32, {8}, DType::F32));
  CHECK_NOTHROW(Tensor(st, 64, {0}, DType::F32));
  CHECK_THROWS_AS(Tensor(st, 0, {17}, DType::F32), InternalError);
  CHECK_THROWS_AS(Tensor(st, 4, {16}, DType::F32), InternalError);
  CHECK_THROWS_AS(Tensor(st, 65, {0}, DType::F32), InternalError);
  CHECK_THROWS_AS(Tensor(st, 0, {-1}, DType::F32), InternalError);
  CHECK_THROWS_AS(Tensor(st, 0, {-2, -3}, DType::F32), InternalError);  // product positive
  CHECK_THROWS_AS(Tensor(st, 0, {0, -1}, DType::F32), InternalError);
  CHECK_THROWS_AS(Tensor(st, std::numeric_limits<size_t>::max() - 3, {2}, DType::F32), InternalError);
  const int64_t big = int64_t{1} << 32;
  CHECK_THROWS_AS(Tensor(st, 0, {big, big}, DType::F32), InternalError);  // 2^64 elements
  CHECK_THROWS_AS(Tensor(st, 0, {int64_t{1} << 62, 4}, DType::F32), InternalError);
  CHECK_THROWS_AS(Tensor(st, 0, {int64_t{1} << 62}, DType::F32), InternalError);  // 2^64 bytes
  // without storage only the shape is checked
  CHECK_NOTHROW(Tensor(nullptr, 0, {1000, 1000}, DType::F32));
  CHECK_THROWS_AS(Tensor(nullptr, 0, {-1}, DType::F32), InternalError);
}

TEST_CASE("data<T>() checks the dtype") {
  Tensor f = make({3});
  CHECK(f.data<float>() == f.raw());
  CHECK_THROWS_AS((void)f.data<mp::half>(), InternalError);
  CHECK_THROWS_AS((void)f.data<int32_t>(), InternalError);
  Tensor h = make({3}, DType::F16);
  CHECK_NOTHROW((void)h.data<mp::half>());
  CHECK_THROWS_AS((void)h.data<mp::bfloat16>(), InternalError);
  Tensor i = make({3}, DType::I64);
  CHECK_NOTHROW((void)i.data<int64_t>());
  try {
    (void)f.data<mp::bfloat16>();
    FAIL("no throw");
  } catch (const InternalError& e) {
    CHECK(e.exit_code() == mp::kExitInternal);
    CHECK(std::string(e.what()).find("tensor dtype is fp32") != std::string::npos);
  }
}

TEST_CASE("reshape shares storage and checks the element count") {
  int freed = 0;
  {
    Tensor t(host_storage(24 * 4, &freed), 0, {2, 3, 4}, DType::F32);
    float* p = t.data<float>();
    for (int i = 0; i < 24; ++i) p[i] = static_cast<float>(i);
    const Tensor r = t.reshape({6, 4});
    CHECK(r.shape() == Shape{6, 4});
    CHECK(r.raw() == t.raw());
    CHECK(r.storage() == t.storage());
    CHECK(r.dtype() == DType::F32);
    CHECK(r.data<float>()[23] == 23.0f);
    r.data<float>()[5] = -1.0f;  // writes through the view are visible in the original
    CHECK(p[5] == -1.0f);
    CHECK(t.reshape({24}).numel() == 24);
    CHECK(t.reshape({1, 24, 1}).rows() == 24);
    CHECK_THROWS_AS((void)t.reshape({5, 5}), InternalError);
    CHECK_THROWS_AS((void)t.reshape({}), InternalError);
    CHECK_THROWS_AS((void)t.reshape({-4, -6}), InternalError);
    CHECK(t.storage().use_count() == 2);  // t and r
    t = Tensor();
    CHECK(freed == 0);  // r still holds the storage
    CHECK(r.data<float>()[23] == 23.0f);
  }
  CHECK(freed == 1);  // freed exactly once, after the last view
}

TEST_CASE("slice_rows shares storage, offsets by whole rows and bounds-checks") {
  Tensor t = make({5, 2, 3}, DType::BF16);
  auto* p = t.data<mp::bfloat16>();
  for (int i = 0; i < 30; ++i) p[i] = mp::bfloat16(static_cast<float>(i));
  const Tensor s = t.slice_rows(1, 4);
  CHECK(s.shape() == Shape{3, 2, 3});
  CHECK(s.storage() == t.storage());
  CHECK(s.raw() == static_cast<char*>(t.raw()) + 6 * 2);
  CHECK(static_cast<float>(s.data<mp::bfloat16>()[0]) == 6.0f);
  CHECK(s.rows() == 6);
  // a slice of a slice
  const Tensor ss = s.slice_rows(2, 3);
  CHECK(ss.shape() == Shape{1, 2, 3});
  CHECK(static_cast<float>(ss.data<mp::bfloat16>()[5]) == 23.0f);
  // empty slices at either end and the whole tensor
  CHECK(t.slice_rows(0, 0).numel() == 0);
  CHECK(t.slice_rows(5, 5).numel() == 0);
  CHECK(t.slice_rows(0, 5).raw() == t.raw());
  CHECK_THROWS_AS((void)t.slice_rows(-1, 2), InternalError);
  CHECK_THROWS_AS((void)t.slice_rows(3, 2), InternalError);
  CHECK_THROWS_AS((void)t.slice_rows(0, 6), InternalError);
  CHECK_THROWS_AS((void)s.slice_rows(0, 4), InternalError);  // bounds are the slice's own
  CHECK_THROWS_AS((void)make({}).slice_rows(0, 1), InternalError);  // a scalar has no rows
  const Tensor empty_rows = make({0, 4});
  CHECK(empty_rows.slice_rows(0, 0).shape() == Shape{0, 4});
}

TEST_CASE("flat_range is a 1-d view of this tensor's elements, bounds-checked") {
  Tensor t = make({4, 5}, DType::I32);
  auto* p = t.data<int32_t>();
  for (int i = 0; i < 20; ++i) p[i] = i;
  const Tensor f = t.flat_range(7, 6);
  CHECK(f.shape() == Shape{6});
  CHECK(f.storage() == t.storage());
  CHECK(f.data<int32_t>()[0] == 7);
  CHECK(f.data<int32_t>()[5] == 12);
  CHECK(t.flat_range(0, 20).numel() == 20);
  CHECK(t.flat_range(20, 0).numel() == 0);
  CHECK_THROWS_AS((void)t.flat_range(15, 6), InternalError);
  CHECK_THROWS_AS((void)t.flat_range(-1, 2), InternalError);
  CHECK_THROWS_AS((void)t.flat_range(0, -1), InternalError);
  CHECK_THROWS_AS((void)t.flat_range(21, 0), InternalError);
  CHECK_THROWS_AS((void)t.flat_range(1, std::numeric_limits<int64_t>::max()), InternalError);
  // relative to a view: a slice's flat range starts at the slice
  const Tensor s = t.slice_rows(2, 4);
  CHECK(s.flat_range(1, 3).data<int32_t>()[0] == 11);
  CHECK_THROWS_AS((void)s.flat_range(5, 6), InternalError);
}

TEST_CASE("describe() and names") {
  CHECK(make({256, 784}, DType::BF16).describe() == "bf16[256, 784] on cpu");
  CHECK(make({}, DType::F32).describe() == "fp32[] on cpu");
  const Tensor g(host_storage(8, nullptr, Device::CUDA), 0, {2}, DType::I32);
  CHECK(g.device() == Device::CUDA);
  CHECK(g.describe() == "int32[2] on cuda");
  CHECK(Tensor().describe() == "fp32[] on cpu");
  CHECK(mp::device_name(Device::CPU) == "cpu");
  CHECK(mp::device_name(Device::CUDA) == "cuda");
}

TEST_CASE("dtype_of, sizes and names round trip") {
  static_assert(mp::dtype_of<float>() == DType::F32);
  static_assert(mp::dtype_of<mp::half>() == DType::F16);
  static_assert(mp::dtype_of<mp::bfloat16>() == DType::BF16);
  static_assert(mp::dtype_of<int32_t>() == DType::I32);
  static_assert(mp::dtype_of<int64_t>() == DType::I64);
  static_assert(mp::dtype_size(mp::dtype_of<float>()) == sizeof(float));
  static_assert(mp::dtype_size(mp::dtype_of<mp::half>()) == sizeof(mp::half));
  static_assert(mp::dtype_size(mp::dtype_of<mp::bfloat16>()) == sizeof(mp::bfloat16));
  static_assert(mp::dtype_size(mp::dtype_of<int32_t>()) == sizeof(int32_t));
  static_assert(mp::dtype_size(mp::dtype_of<int64_t>()) == sizeof(int64_t));
  static_assert(mp::parse_dtype("bf16") == DType::BF16);  // usable at compile time
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::I32, DType::I64}) {
    const auto name = mp::dtype_name(t);
    INFO(name);
    CHECK(mp::parse_dtype(name) == t);
    CHECK(mp::is_float(t) == (t == DType::F32 || t == DType::F16 || t == DType::BF16));
  }
  CHECK(mp::dtype_name(DType::F32) == "fp32");
  CHECK(mp::dtype_name(DType::F16) == "fp16");
  CHECK(mp::dtype_name(DType::BF16) == "bf16");
  CHECK(mp::dtype_name(DType::I32) == "int32");
  CHECK(mp::dtype_name(DType::I64) == "int64");
  for (const char* bad : {"", "float32", "FP32", "fp", "bf16 ", "half", "int8"})
    CHECK_FALSE(mp::parse_dtype(bad).has_value());
  // dtype_max / dtype_min_subnormal agree with the conversions
  CHECK(mp::dtype_max(DType::F16) == static_cast<double>(mp::half_bits_to_float(0x7bffu)));
  CHECK(mp::dtype_max(DType::BF16) == static_cast<double>(mp::bf16_bits_to_float(0x7f7fu)));
  CHECK(mp::dtype_max(DType::F32) == static_cast<double>(std::numeric_limits<float>::max()));
  CHECK(mp::dtype_min_subnormal(DType::F16) == static_cast<double>(mp::half_bits_to_float(1)));
  CHECK(mp::dtype_min_subnormal(DType::BF16) == static_cast<double>(mp::bf16_bits_to_float(1)));
  CHECK(mp::dtype_min_subnormal(DType::F32) ==
        static_cast<double>(std::numeric_limits<float>::denorm_min()));
}
