// data_bad_values.cpp: values a run must not train on — NaN/Inf inputs or targets of every float
// kind (also ones that only overflow after input_scale or the float64 -> float32 conversion),
// found in each batch as it loads, in the training and the validation split; and splits whose
// labels are all ignore_index.
#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <limits>

#include "data/data_loader.h"
#include "data/finite_scan.h"
#include "data/split.h"
#include "data_test_files.h"

using namespace mp;
using namespace mp::test;

namespace {

const SplitSpec& kTrain = kTrainSplit;
const SplitSpec kVal{"/train/x", "/train/y", "validation"};
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// /train/x of `n` rows of `dim` values of type T (value 0.5 except x[bad] = bad_value), /train/y
// int32 labels 0.
template <class T>
std::string write_x(const TempDir& d, const char* name, int64_t n, int64_t dim, int64_t bad, T bad_value,
                    T fill) {
  const std::string p = d.file(name);
  std::vector<T> x(static_cast<size_t>(n * dim), fill);
  if (bad >= 0) x[static_cast<size_t>(bad)] = bad_value;
  std::vector<int32_t> y(static_cast<size_t>(n), 0);
  H5Handle f = h5_create(p);
  h5_write(f.get(), "/train/x", {n, dim}, x.data());
  h5_write(f.get(), "/train/y", {n}, y.data());
  return p;
}

// Reads every batch of one epoch; returns the DataError message ("<no DataError thrown>" if none).
std::string read_epoch(const std::string& file, const SplitSpec& paths, bool in_memory,
                       int64_t prefetch, double input_scale = 1.0) {
  return data_error_message([&] {
    LoaderOptions o;
    o.batch_size = 8;
    o.prefetch = prefetch;
    o.drop_last = false;
    o.input_scale = input_scale;
    o.seed = 3;
    DataLoader l(Split::open(file, paths, in_memory), o);
    for (int64_t i = 0; i < l.batches_per_epoch(); ++i) l.next();
  });
}

}  // namespace

TEST_CASE("first_nonfinite: exact on the exponent bits, in and across blocks") {
  std::vector<float> v(10000, 1.0f);
  CHECK(first_nonfinite(v.data(), 0) == -1);
  v[1] = FLT_MAX;
  v[2] = -FLT_MAX;
  v[3] = FLT_MIN / 8;  // subnormal
  v[4] = -0.0f;
  CHECK(first_nonfinite(v.data(), v.size()) == -1);
  for (size_t at : {size_t{0}, size_t{4095}, size_t{4096}, size_t{9999}}) {
    for (float bad : {kNaN, kInf, -kInf}) {
      std::vector<float> w = v;
      w[at] = bad;
      CHECK(first_nonfinite(w.data(), w.size()) == static_cast<int64_t>(at));
      if (at < 9999) w[9999] = kNaN;  // a later one does not hide the first
      CHECK(first_nonfinite(w.data(), w.size()) == static_cast<int64_t>(at));
    }
  }
  CHECK(nonfinite_name(kNaN) == "NaN");
  CHECK(nonfinite_name(kInf) == "+Inf");
  CHECK(nonfinite_name(-kInf) == "-Inf");
}

TEST_CASE("a NaN input fails the batch that holds it, naming file, dataset, split and sample") {
  TempDir d;
  const std::string p = write_x<float>(d, "nan.h5", 64, 3, 37 * 3 + 1, kNaN, 0.5f);
  for (bool in_memory : {true, false}) {
    for (int64_t prefetch : {0, 2}) {  // built in next(), or in the prefetch thread
      CAPTURE(in_memory);
      CAPTURE(prefetch);
      check_has(read_epoch(p, kTrain, in_memory, prefetch),
                {"nan.h5", "dataset /train/x", "expected finite inputs, found NaN", "sample 37",
                 "element 1", "training split", "data.check_finite"});
    }
  }
  // The same file as the validation split.
  check_has(read_epoch(p, kVal, false, 2), {"NaN", "sample 37", "validation split"});
  // Without the bad value, the epoch reads through.
  const std::string ok = write_x<float>(d, "ok.h5", 64, 3, -1, 0.0f, 0.5f);
  CHECK(read_epoch(ok, kTrain, false, 2) == "<no DataError thrown>");
}

TEST_CASE("every float kind is checked, and overflow from scaling or narrowing too") {
  TempDir d;
  check_has(read_epoch(write_x<half>(d, "h.h5", 20, 2, 13, half::from_bits(0x7c00), half(1.0f)),
                       kTrain, true, 0),
            {"h.h5", "+Inf", "sample 6", "element 1"});
  check_has(read_epoch(write_x<bfloat16>(d, "b.h5", 20, 2, 2, bfloat16::from_bits(0x7fc0), bfloat16(1.0f)),
                       kTrain, false, 0),
            {"b.h5", "NaN", "sample 1", "element 0"});
  // 1e300 is a finite float64 but +Inf as the float32 the model sees.
  check_has(read_epoch(write_x<double>(d, "f64.h5", 20, 2, 39, -1e300, 1.0), kTrain, true, 0),
            {"f64.h5", "-Inf (after conversion to float32)", "sample 19"});
  // uint8 pixels are finite, but not times an input_scale of 1e39.
  const std::string u8 = write_x<uint8_t>(d, "u8.h5", 20, 2, -1, 0, 200);
  check_has(read_epoch(u8, kTrain, false, 0, 1e39), {"u8.h5", "+Inf (after scaling by data.input_scale"});
  CHECK(read_epoch(u8, kTrain, false, 0, 1.0 / 255) == "<no DataError thrown>");
}

TEST_CASE("NaN regression targets fail the batch, naming the y dataset") {
  TempDir d;
  const std::string p = d.file("reg.h5");
  {
    std::vector<float> x(10 * 2, 0.5f), y(10 * 3, 1.0f);
    y[7 * 3 + 2] = kNaN;
    H5Handle f = h5_create(p);
    h5_write(f.get(), "/train/x", {10, 2}, x.data());
    h5_write(f.get(), "/train/y", {10, 3}, y.data());
  }
  check_has(read_epoch(p, kTrain, true, 2),
            {"reg.h5", "dataset /train/y", "expected finite targets, found NaN", "sample 7", "element 2"});
}

TEST_CASE("a split whose labels are all ignore_index is an error, training or validation") {
  TempDir d;
  const std::string p = d.file("ign.h5");
  const std::string one = d.file("one.h5");
  {
    std::vector<float> x(5 * 2, 0.5f);
    std::vector<int32_t> y(5, -100);
    H5Handle f = h5_create(p);
    h5_write(f.get(), "/train/x", {5, 2}, x.data());
    h5_write(f.get(), "/train/y", {5}, y.data());
    y[3] = 2;
    H5Handle g = h5_create(one);
    h5_write(g.get(), "/train/x", {5, 2}, x.data());
    h5_write(g.get(), "/train/y", {5}, y.data());
  }
  check_has(data_error_message([&] { Split(p, kTrain, false).check_labels(10, -100); }),
            {"ign.h5", "dataset /train/y", "every one of its 5 labels is ignore_index (-100)",
             "training split has nothing to learn from", "model.ignore_index"});
  check_has(data_error_message([&] { Split(p, kVal, true).check_labels(10, -100); }),
            {"ign.h5", "validation split measures nothing", "data.val.x: \"\""});
  // One real label is enough; and -100 is a label like any other once ignore_index differs.
  CHECK_NOTHROW(Split(one, kTrain, false).check_labels(10, -100));
  check_has(data_error_message([&] { Split(p, kTrain, false).check_labels(10, -1); }),
            {"label -100 at sample 0"});
}
