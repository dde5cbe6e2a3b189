// data_errors.cpp: every bad-data condition of the data layer ends in a DataError (exit 3) whose
// message names the file, the dataset, what was expected and what was found.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <limits>

#include "data/data_loader.h"
#include "data/split.h"
#include "data_test_files.h"

using namespace mp;
using mp::test::check_has;
using mp::test::data_error_message;
using mp::test::TempDir;

namespace {
const SplitSpec kTrain{"/train/x", "/train/y"};

// A file with /train/x float32 [n, dim] from `x` and /train/y int64 [n] from `y`.
std::string write_xy(const TempDir& d, const std::vector<float>& x, int64_t dim,
                     const std::vector<int64_t>& y) {
  static int n = 0;
  const std::string p = d.file("xy" + std::to_string(n++) + ".h5");
  H5Handle f = h5_create(p);
  h5_write(f.get(), "/train/x", {static_cast<int64_t>(x.size()) / dim, dim}, x.data());
  h5_write(f.get(), "/train/y", {static_cast<int64_t>(y.size())}, y.data());
  return p;
}
}  // namespace

TEST_CASE("missing file, directory and non-HDF5 file") {
  TempDir d;
  const std::string missing = d.file("nope.h5");
  check_has(data_error_message([&] { Split s(missing, kTrain, true); }),
            {"nope.h5", "not found", "data.file", "prepare.sh"});

  check_has(data_error_message([&] { Split s(d.file(""), kTrain, true); }), {"directory"});

  const std::string text = d.file("text.h5");
  std::ofstream(text) << "x,y\n1,2\n";
  check_has(data_error_message([&] { Split s(text, kTrain, true); }),
            {"text.h5", "not an HDF5 file"});

  const std::string empty = d.file("empty.h5");
  std::ofstream{empty};
  check_has(data_error_message([&] { Split s(empty, kTrain, true); }), {"empty.h5", "not an HDF5 file"});
}

TEST_CASE("truncated HDF5 file is a DataError, not a crash") {
  TempDir d;
  const std::string p = d.file("trunc.h5");
  mp::test::write_simple_split(p, 5000, 16, 10);
  std::filesystem::resize_file(p, std::filesystem::file_size(p) / 2);
  for (bool in_memory : {true, false}) {
    const std::string msg = data_error_message([&] {
      Split s(p, kTrain, in_memory);
      std::vector<int64_t> idx{4999};
      std::vector<float> x(16);
      std::vector<int32_t> y(1);
      s.read(idx.data(), 1, 1.0, x.data(), y.data(), nullptr);
    });
    check_has(msg, {"trunc.h5"});
  }
}

TEST_CASE("missing dataset lists what the file has") {
  TempDir d;
  const std::string p = d.file("a.h5");
  mp::test::write_simple_split(p, 10, 3, 2);
  check_has(data_error_message([&] { Split s(p, {"/val/x", "/val/y"}, true); }),
            {"a.h5", "/val/x", "not found", "/train/x", "/train/y", "data.train.x"});
  check_has(data_error_message([&] { Split s(p, {"/train/x", "/train/labels"}, true); }),
            {"/train/labels", "not found", "the file has: /train/x, /train/y"});
  check_has(data_error_message([&] { Split s(p, {"/train", "/train/y"}, true); }),
            {"dataset /train:", "expected a dataset, found a group"});
  check_has(data_error_message([&] { Split s(p, {"train/x", "/train/y"}, true); }),
            {"absolute path"});
}

TEST_CASE("x/y length mismatch and empty split") {
  TempDir d;
  const std::string p = write_xy(d, std::vector<float>(10 * 2, 1.0f), 2, std::vector<int64_t>(9, 0));
  check_has(data_error_message([&] { Split s(p, kTrain, false); }),
            {"/xy", "10 rows in /train/x", "9 in /train/y", "as many labels as samples"});

  const std::string e = d.file("empty_split.h5");
  {
    H5Handle f = h5_create(e);
    h5_write(f.get(), "/train/x", {0, 4}, static_cast<const float*>(nullptr));
    h5_write(f.get(), "/train/y", {0}, static_cast<const int32_t*>(nullptr));
  }
  check_has(data_error_message([&] { Split s(e, kTrain, true); }),
            {"empty_split.h5", "/train/x", "at least one sample", "empty split"});
}

TEST_CASE("batch larger than the split with drop_last") {
  TempDir d;
  const std::string p = d.file("small.h5");
  mp::test::write_simple_split(p, 100, 4, 3);
  auto split = Split::open(p, kTrain, true);
  LoaderOptions o;
  o.batch_size = 128;
  o.drop_last = true;
  check_has(data_error_message([&] { DataLoader l(split, o); }),
            {"small.h5", "batch_size 128", "100 samples", "data.batch_size", "drop_last: false"});
  o.world_size = 4;
  o.batch_size = 30;
  check_has(data_error_message([&] { DataLoader l(split, o); }),
            {"batch_size 30", "25 samples per rank", "world_size 4"});
  // Without drop_last the short batch is kept: one batch of 100.
  o.drop_last = false;
  o.world_size = 1;
  o.batch_size = 128;
  DataLoader l(split, o);
  CHECK(l.batches_per_epoch() == 1);
  CHECK(l.next().size == 100);
}

TEST_CASE("unsupported element types") {
  TempDir d;
  const std::string p = d.file("types.h5");
  {
    H5Handle f = h5_create(p);
    std::vector<int32_t> y(3, 0);
    h5_write(f.get(), "/train/y", {3}, y.data());
    // Strings as inputs.
    H5Handle st(H5Tcopy(H5T_C_S1));
    H5Tset_size(st.get(), 4);
    const char words[3][4] = {"abc", "def", "ghi"};
    h5_write_dataset(f.get(), "/str/x", st.get(), st.get(), {3}, words);
    // A compound type.
    struct Pair { float a; int32_t b; };
    H5Handle ct(H5Tcreate(H5T_COMPOUND, sizeof(Pair)));
    H5Tinsert(ct.get(), "a", HOFFSET(Pair, a), H5T_NATIVE_FLOAT);
    H5Tinsert(ct.get(), "b", HOFFSET(Pair, b), H5T_NATIVE_INT32);
    const Pair pairs[3] = {{1, 2}, {3, 4}, {5, 6}};
    h5_write_dataset(f.get(), "/cmp/x", ct.get(), ct.get(), {3}, pairs);
  }
  check_has(data_error_message([&] { Split s(p, {"/str/x", "/train/y"}, true); }),
            {"types.h5", "/str/x", "unsupported element type string", "expected one of", "float32"});
  check_has(data_error_message([&] { Split s(p, {"/cmp/x", "/train/y"}, true); }),
            {"/cmp/x", "compound{a: float32, b: int32}"});
  check_has(data_error_message([&] { Split s(p, {"/train/y", "/str/x"}, true); }),
            {"/str/x", "unsupported element type"});
}

TEST_CASE("check_finite reports the first NaN or Inf sample") {
  TempDir d;
  std::vector<float> x(6 * 3, 0.5f);
  x[4 * 3 + 2] = std::numeric_limits<float>::quiet_NaN();
  x[5 * 3 + 0] = std::numeric_limits<float>::infinity();
  const std::string p = write_xy(d, x, 3, std::vector<int64_t>(6, 0));
  for (bool in_memory : {true, false}) {
    Split s(p, kTrain, in_memory);
    check_has(data_error_message([&] { s.check_finite(); }),
              {"/xy", "/train/x", "NaN", "sample 4", "element 2", "check_finite"});
  }
  x[4 * 3 + 2] = 0.0f;
  const std::string p2 = write_xy(d, x, 3, std::vector<int64_t>(6, 0));
  check_has(data_error_message([&] { Split(p2, kTrain, true).check_finite(); }), {"+Inf", "sample 5"});

  // float16 inputs: the half NaN pattern is found too.
  const std::string h = d.file("h.h5");
  {
    H5Handle f = h5_create(h);
    std::vector<half> hx(4, half(1.0f));
    hx[3] = half::from_bits(0x7e00);
    std::vector<int32_t> y(4, 0);
    h5_write(f.get(), "/train/x", {4, 1}, hx.data());
    h5_write(f.get(), "/train/y", {4}, y.data());
  }
  check_has(data_error_message([&] { Split(h, kTrain, true).check_finite(); }), {"NaN", "sample 3"});

  // Clean data passes, integer inputs are not scanned.
  x[5 * 3] = 1.0f;
  const std::string p3 = write_xy(d, x, 3, std::vector<int64_t>(6, 0));
  CHECK_NOTHROW(Split(p3, kTrain, false).check_finite());
}

TEST_CASE("labels out of range, negative labels and ignore_index") {
  TempDir d;
  const std::vector<float> x(5 * 2, 0.0f);
  const std::string p = write_xy(d, x, 2, {0, 1, 9, 10, 3});
  Split s(p, kTrain, false);
  CHECK(s.has_labels());
  CHECK_NOTHROW(s.check_labels(11, -100));
  check_has(data_error_message([&] { s.check_labels(10, -100); }),
            {"/xy", "/train/y", "label 10 at sample 3", "expected 0..9", "10 classes",
             "ignore_index -100", "num_classes"});

  const std::string n = write_xy(d, x, 2, {0, -100, 2, -1, 1});
  Split sn(n, kTrain, true);
  check_has(data_error_message([&] { sn.check_labels(10, -100); }), {"label -1 at sample 3"});
  check_has(data_error_message([&] { sn.check_labels(10, -1); }), {"label -100 at sample 1"});

  const std::string ok = write_xy(d, x, 2, {0, -100, 2, -100, 1});
  CHECK_NOTHROW(Split(ok, kTrain, true).check_labels(3, -100));

  // Labels beyond int32 are reported with their true value.
  const std::string big = write_xy(d, x, 2, {0, 1, 5000000000LL, 1, 1});
  check_has(data_error_message([&] { Split(big, kTrain, true).check_labels(10, -100); }),
            {"label 5000000000 at sample 2"});
}

TEST_CASE("float y where labels are needed, one-hot labels, and target shapes") {
  TempDir d;
  const std::string p = d.file("reg.h5");
  {
    H5Handle f = h5_create(p);
    std::vector<float> x(4 * 2, 0.0f), y(4 * 3, 0.0f);
    std::vector<int32_t> onehot(4 * 3, 0);
    h5_write(f.get(), "/train/x", {4, 2}, x.data());
    h5_write(f.get(), "/train/y", {4, 3}, y.data());
    h5_write(f.get(), "/train/onehot", {4, 3}, onehot.data());
  }
  Split s(p, kTrain, true);
  CHECK_FALSE(s.has_labels());
  check_has(data_error_message([&] { s.check_labels(3, -100); }),
            {"reg.h5", "/train/y", "expected integer class labels", "found float32", "mse"});
  CHECK_NOTHROW(s.check_targets({3}));
  check_has(data_error_message([&] { s.check_targets({2}); }),
            {"/train/y", "expected per-sample target shape [2]", "found [3]"});

  Split oh(p, {"/train/x", "/train/onehot"}, true);
  check_has(data_error_message([&] { oh.check_labels(3, -100); }), {"one integer label per sample", "one-hot"});
  check_has(data_error_message([&] { oh.check_targets({3}); }), {"expected float regression targets", "int32"});
  LoaderOptions o;
  o.batch_size = 2;
  check_has(data_error_message([&] { DataLoader l(Split::open(p, {"/train/x", "/train/onehot"}, true), o); }),
            {"/train/onehot", "one integer label per sample"});
}

TEST_CASE("input shape must match the model's") {
  TempDir d;
  const std::string p = d.file("img.h5");
  {
    H5Handle f = h5_create(p);
    std::vector<uint8_t> x(3 * 28 * 28, 0);
    std::vector<int32_t> y(3, 0);
    h5_write(f.get(), "/train/x", {3, 28, 28}, x.data());
    h5_write(f.get(), "/train/y", {3}, y.data());
  }
  Split s(p, kTrain, true);
  CHECK(s.sample_shape() == Shape{28, 28});
  CHECK_NOTHROW(s.check_input_shape({28, 28}));
  check_has(data_error_message([&] { s.check_input_shape({784}); }),
            {"img.h5", "/train/x", "expected per-sample input shape [784]", "found [28, 28]",
             "[3, 28, 28]", "same number of values", "model.input_shape"});
  const std::string msg = data_error_message([&] { s.check_input_shape({100}); });
  check_has(msg, {"expected per-sample input shape [100]"});
  CHECK(msg.find("same number of values") == std::string::npos);
}

TEST_CASE("resuming at a cursor past the end of an epoch") {
  TempDir d;
  const std::string p = d.file("c.h5");
  mp::test::write_simple_split(p, 20, 2, 2);
  LoaderOptions o;
  o.batch_size = 4;
  o.prefetch = 0;
  DataLoader l(Split::open(p, kTrain, true), o);
  check_has(data_error_message([&] { l.seek({1, 6}); }),
            {"c.h5", "epoch 1, batch 6", "0..4", "5 batches per epoch", "different data set"});
  l.seek({1, 5});  // == batches per epoch: the start of epoch 2
  CHECK(l.cursor() == LoaderCursor{2, 0});
}
