// data_split_read.cpp: reading samples by index converts every supported input type to float32
// (times input_scale) and every integer label type to int32; chunked and in-memory reads agree.
#include <doctest/doctest.h>

#include <cmath>

#include "data/split.h"
#include "data_test_files.h"

using namespace mp;
using mp::test::TempDir;

namespace {
const SplitSpec kTrain{"/train/x", "/train/y"};

struct Read {
  std::vector<float> x;
  std::vector<int32_t> labels;
  std::vector<float> targets;
};

Read read_all(const Split& s, std::vector<int64_t> idx, double scale) {
  Read r;
  r.x.resize(idx.size() * static_cast<size_t>(s.sample_numel()));
  if (s.has_labels()) r.labels.resize(idx.size());
  else r.targets.resize(idx.size() * static_cast<size_t>(s.target_numel()));
  s.read(idx.data(), idx.size(), scale, r.x.data(), s.has_labels() ? r.labels.data() : nullptr,
         s.has_labels() ? nullptr : r.targets.data());
  return r;
}
}  // namespace

TEST_CASE("uint8 inputs: exact values, input_scale 1/255 maps 255 to 1.0f") {
  TempDir d;
  const std::string p = d.file("u8.h5");
  std::vector<uint8_t> x{0, 1, 127, 128, 254, 255};
  std::vector<uint8_t> y{3, 7};
  {
    H5Handle f = h5_create(p);
    h5_write(f.get(), "/train/x", {2, 3}, x.data(), 4);
    h5_write(f.get(), "/train/y", {2}, y.data());
  }
  for (bool in_memory : {true, false}) {
    Split s(p, kTrain, in_memory);
    CHECK(s.input_kind() == ElemKind::U8);
    CHECK(s.sample_shape() == Shape{3});
    const Read raw = read_all(s, {0, 1}, 1.0);
    CHECK(raw.x == std::vector<float>{0, 1, 127, 128, 254, 255});
    CHECK(raw.labels == std::vector<int32_t>{3, 7});
    const Read scaled = read_all(s, {1, 0}, 1.0 / 255.0);
    CHECK(scaled.x[2] == 1.0f);
    CHECK(scaled.x[1] == static_cast<float>(254.0 / 255.0));
    CHECK(scaled.x[3] == 0.0f);
    CHECK(scaled.x[5] == static_cast<float>(127.0 / 255.0));
    CHECK(scaled.labels == std::vector<int32_t>{7, 3});
  }
}

TEST_CASE("float16, bfloat16, float32, float64 and integer inputs convert exactly") {
  TempDir d;
  const std::string p = d.file("types.h5");
  const std::vector<float> vals{0.0f, -1.5f, 65504.0f, 6.103515625e-05f, 5.960464477539063e-08f, 3.140625f};
  std::vector<half> h;
  std::vector<bfloat16> b;
  std::vector<double> f64;
  std::vector<int64_t> i64;
  for (float v : vals) {
    h.push_back(half(v));
    b.push_back(bfloat16(v));
    f64.push_back(static_cast<double>(v));
  }
  for (int i = 0; i < 6; ++i) i64.push_back(-1000000 + i * 12345);
  std::vector<int16_t> y16{0, 1, 2, 3, 4, 5};
  {
    H5Handle f = h5_create(p);
    h5_write(f.get(), "/f16", {6, 1}, h.data());
    h5_write(f.get(), "/bf16", {6, 1}, b.data());
    h5_write(f.get(), "/f32", {6, 1}, vals.data(), 1);
    h5_write(f.get(), "/f64", {6, 1}, f64.data());
    h5_write(f.get(), "/i64", {6, 1}, i64.data());
    h5_write_dataset(f.get(), "/y16", H5T_STD_I16BE, H5T_NATIVE_INT16, {6}, y16.data());  // big-endian labels
  }
  const std::vector<int64_t> idx{5, 4, 3, 2, 1, 0};
  for (bool in_memory : {true, false}) {
    CAPTURE(in_memory);
    Split s16(p, {"/f16", "/y16"}, in_memory);
    CHECK(s16.input_kind() == ElemKind::F16);
    const Read r16 = read_all(s16, idx, 1.0);
    for (size_t i = 0; i < 6; ++i) CHECK(r16.x[i] == static_cast<float>(h[5 - i]));
    CHECK(r16.x[3] == 65504.0f);
    CHECK(r16.x[1] == 5.960464477539063e-08f);  // the smallest subnormal half survives
    CHECK(r16.labels == std::vector<int32_t>{5, 4, 3, 2, 1, 0});

    Split sb(p, {"/bf16", "/y16"}, in_memory);
    CHECK(sb.input_kind() == ElemKind::BF16);
    const Read rb = read_all(sb, idx, 1.0);
    for (size_t i = 0; i < 6; ++i) CHECK(rb.x[i] == static_cast<float>(b[5 - i]));
    CHECK(rb.x[0] == 3.140625f);

    Split s32(p, {"/f32", "/y16"}, in_memory);
    CHECK(read_all(s32, idx, 1.0).x == std::vector<float>(vals.rbegin(), vals.rend()));
    const Read r32s = read_all(s32, {1}, 2.0);
    CHECK(r32s.x[0] == -3.0f);

    Split s64(p, {"/f64", "/y16"}, in_memory);
    CHECK(s64.input_kind() == ElemKind::F64);
    CHECK(read_all(s64, idx, 1.0).x == std::vector<float>(vals.rbegin(), vals.rend()));

    Split si(p, {"/i64", "/y16"}, in_memory);
    const Read ri = read_all(si, {0, 5}, 0.5);
    CHECK(ri.x == std::vector<float>{-500000.0f, static_cast<float>((-1000000 + 5 * 12345) * 0.5)});
  }
}

TEST_CASE("float targets for regression, [N] and [N, k]") {
  TempDir d;
  const std::string p = d.file("reg.h5");
  std::vector<float> x{1, 2, 3, 4}, y1{0.5f, -0.5f}, y2{1, 2, 3, 4, 5, 6};
  std::vector<half> yh{half(0.25f), half(-2.0f)};
  {
    H5Handle f = h5_create(p);
    h5_write(f.get(), "/x", {2, 2}, x.data());
    h5_write(f.get(), "/y1", {2}, y1.data());
    h5_write(f.get(), "/y2", {2, 3}, y2.data());
    h5_write(f.get(), "/yh", {2}, yh.data());
  }
  Split s1(p, {"/x", "/y1"}, false);
  CHECK_FALSE(s1.has_labels());
  CHECK(s1.target_shape().empty());
  CHECK_NOTHROW(s1.check_targets({1}));
  CHECK_NOTHROW(s1.check_targets({}));
  CHECK(read_all(s1, {1, 0}, 3.0).targets == std::vector<float>{-0.5f, 0.5f});  // scale: inputs only
  CHECK(read_all(s1, {1, 0}, 3.0).x == std::vector<float>{9, 12, 3, 6});
  Split s2(p, {"/x", "/y2"}, true);
  CHECK(s2.target_shape() == Shape{3});
  CHECK(read_all(s2, {1}, 1.0).targets == std::vector<float>{4, 5, 6});
  Split sh(p, {"/x", "/yh"}, true);
  CHECK(read_all(sh, {0, 1}, 1.0).targets == std::vector<float>{0.25f, -2.0f});
}

TEST_CASE("chunked and in-memory reads agree for any index pattern, repeats included") {
  TempDir d;
  const std::string p = d.file("big.h5");
  mp::test::write_simple_split(p, 1000, 7, 10, 6);  // gzip'd, chunked
  Split mem(p, kTrain, true);
  Split file(p, kTrain, false);
  CHECK(mem.in_memory());
  CHECK_FALSE(file.in_memory());
  const std::vector<std::vector<int64_t>> patterns{
      {0}, {999}, {5, 6, 7, 8}, {900, 3, 512, 4, 511, 3, 999, 0}, {10, 10, 10}};
  for (const auto& idx : patterns) {
    const Read a = read_all(mem, idx, 0.5);
    const Read b = read_all(file, idx, 0.5);
    CHECK(a.x == b.x);
    CHECK(a.labels == b.labels);
    for (size_t i = 0; i < idx.size(); ++i) {
      CHECK(a.x[i * 7] == static_cast<float>(idx[i]) * 0.5f);
      CHECK(a.labels[i] == idx[i] % 10);
    }
  }
}
