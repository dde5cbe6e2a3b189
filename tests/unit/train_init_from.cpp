// train_init_from.cpp: train.init_from / init_exclude. Name matching (exact, dotted prefix, trailing
// *), every unmatched entry named, every model/file difference listed (missing, unexpected, shape),
// and loading from an export file and from a plain HDF5 file with fp16/bf16 /params: masters set
// exactly from the widened values, working copies re-cast, excluded parameters untouched.
#include <doctest/doctest.h>
#include <hdf5.h>

#include <cstring>

#include "backend/backend.h"
#include "checkpoint/checkpoint_hdf5.h"
#include "checkpoint/weights_file.h"
#include "core/error.h"
#include "core/half.h"
#include "train/init_from.h"
#include "train/param_select.h"
#include "unit/checkpoint_fixtures.h"
#include "unit/optim_fixtures.h"

using namespace mp;
using mp::testing::TempDir;

TEST_CASE("param_matches: a name, a dotted prefix, or a prefix ending in *") {
  CHECK(param_matches("fc1.weight", "fc1.weight"));
  CHECK(param_matches("fc1.weight", "fc1"));
  CHECK(param_matches("enc.0.weight", "enc"));
  CHECK(param_matches("enc.0.weight", "enc.0"));
  CHECK_FALSE(param_matches("fc10.weight", "fc1"));  // not a dotted prefix
  CHECK_FALSE(param_matches("fc1", "fc1.weight"));
  CHECK(param_matches("fc10.weight", "fc1*"));
  CHECK(param_matches("layers.4.bias", "layers.*"));
  CHECK_FALSE(param_matches("head.weight", "fc*"));
  CHECK_FALSE(param_matches("fc1.weight", ""));
}

TEST_CASE("select_params: model order, each once; every entry that matches nothing is named") {
  const std::vector<std::string> names = {"fc1.weight", "fc1.bias", "fc2.weight", "head.weight"};
  CHECK(select_params(names, {"head", "fc1", "fc1.bias"}, "k") ==
        std::vector<std::string>{"fc1.weight", "fc1.bias", "head.weight"});
  CHECK(select_params(names, {}, "k").empty());
  try {
    select_params(names, {"fc3", "head", "haed.weight"}, "train.init_exclude");
    FAIL("no error");
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    CHECK(msg.find("train.init_exclude: \"fc3\"") != std::string::npos);
    CHECK(msg.find("\"haed.weight\" (did you mean \"head.weight\"?)") != std::string::npos);
    CHECK(msg.find("match no parameter") != std::string::npos);
    CHECK(msg.find("fc1.weight, fc1.bias, fc2.weight, head.weight") != std::string::npos);
    CHECK(msg.find("\"head\"") == std::string::npos);
  }
}

TEST_CASE("init_from_differences lists every difference, exclusions left out of both sides") {
  const std::vector<ParamShape> model = {{"a.weight", {4, 3}}, {"a.bias", {4}}, {"b.weight", {2, 4}},
                                         {"c.weight", {5, 2}}, {"new.weight", {3, 5}}};
  const std::vector<ParamShape> file = {{"a.weight", {4, 2}}, {"b.weight", {2, 4}}, {"c.weight", {6, 2}},
                                        {"old.weight", {3, 5}}, {"old.bias", {3}}};
  const auto d = init_from_differences(model, file, {});
  REQUIRE(d.size() == 6);
  CHECK(d[0] == "a.weight: shape [4, 2] in the file vs [4, 3] in the model");
  CHECK(d[1] == "missing from the file: a.bias [4]");
  CHECK(d[2] == "c.weight: shape [6, 2] in the file vs [5, 2] in the model");
  CHECK(d[3] == "missing from the file: new.weight [3, 5]");
  CHECK(d[4] == "unexpected in the file: old.weight [3, 5]");
  CHECK(d[5] == "unexpected in the file: old.bias [3]");
  const auto e = init_from_differences(model, file, {"c.weight", "new.weight", "old.weight"});
  REQUIRE(e.size() == 3);
  CHECK(e[0].rfind("a.weight:", 0) == 0);
  CHECK(e[2] == "unexpected in the file: old.bias [3]");
  CHECK(init_from_differences(model, model, {}).empty());
}

namespace {

struct Fixture {
  std::unique_ptr<Backend> be = make_backend({"cpu", 1, false});
  mp::testing::ParamSet ps;
  Fixture() {
    ps.add(*be, "fc.weight", {2, 3}, DType::BF16, true, true, {0.5f, 1.0f, 1.5f, 2.0f, 2.5f, 3.0f});
    ps.add(*be, "fc.bias", {2}, DType::BF16, true, false, {0.25f, 0.75f});
    ps.add(*be, "head.weight", {1, 2}, DType::BF16, true, true, {-1.0f, -2.0f});
  }
  std::vector<float> master(const std::string& n) { return to_host_floats(*be, find(n).master); }
  std::vector<float> working(const std::string& n) {
    Tensor f = be->empty(find(n).working.shape(), DType::F32);
    be->cast(find(n).working, f);
    return to_host_floats(*be, f);
  }
  Parameter& find(const std::string& n) {
    for (Parameter* p : ps.list)
      if (p->name == n) return *p;
    FAIL("no parameter " << n);
    return *ps.list[0];
  }
};

// A plain HDF5 file, as h5py would write it: /params/<name> datasets in `dtype`, no attributes.
void write_plain(const std::string& path, const std::vector<CheckpointTensor>& ts, DType dtype) {
  H5Handle file = h5_check(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "create");
  H5Handle params = h5_create_ordered_group(file.get(), "params");
  for (const auto& t : ts) {
    std::vector<uint16_t> b(t.values.size());
    for (size_t i = 0; i < b.size(); ++i)
      b[i] = dtype == DType::F16 ? float_to_half_bits(t.values[i]) : float_to_bf16_bits(t.values[i]);
    write_float_dataset(params.get(), t.name, t.shape, dtype, b.data());
  }
}

}  // namespace

TEST_CASE("init_from_file: a plain fp16/bf16 HDF5 file sets masters exactly and recasts working copies") {
  TempDir dir("init_from");
  for (DType dt : {DType::F16, DType::BF16}) {
    CAPTURE(dtype_name(dt));
    Fixture f;
    // 1 + 2^-9 is exact in fp16, not in bf16 (working copy rounds to 1): the master keeps it.
    const float fine = 1.0f + 0x1p-9f;
    const float v = dt == DType::F16 ? fine : 1.0f + 0x1p-7f;
    const std::string path = (dir.path / ("plain_" + std::string(dtype_name(dt)) + ".h5")).string();
    write_plain(path,
                {{"", "fc.weight", {2, 3}, {v, 2, 3, 4, 5, 6}}, {"", "fc.bias", {2}, {7, 8}},
                 {"", "head.weight", {1, 3}, {9, 9, 9}}},  // another shape: a new head
                dt);
    const InitFromReport r = init_from_file(*f.be, f.ps.list, path, {"head"});
    CHECK(r.loaded == 2);
    CHECK(r.loaded_values == 8);
    CHECK(r.excluded == std::vector<std::string>{"head.weight"});
    CHECK(r.stored_dtype == dtype_name(dt));
    CHECK(f.master("fc.weight") == std::vector<float>{v, 2, 3, 4, 5, 6});
    CHECK(f.working("fc.weight")[0] == round_to<bfloat16>(v));
    CHECK(f.master("fc.bias") == std::vector<float>{7, 8});
    CHECK(f.master("head.weight") == std::vector<float>{-1, -2});  // its initialiser
    CHECK(init_from_log_line(r, 3).find("2 of 3 parameter tensors (8 values) loaded; kept at their "
                                        "initialiser (init_exclude): head.weight") != std::string::npos);
    // Without the exclusion the shape difference is an error listing it, nothing loaded.
    Fixture g;
    CHECK_THROWS_WITH_AS(init_from_file(*g.be, g.ps.list, path, {}),
                         doctest::Contains("head.weight: shape [1, 3] in the file vs [1, 2] in the model"),
                         ConfigError);
    CHECK(g.master("fc.bias") == std::vector<float>{0.25f, 0.75f});
  }
}

TEST_CASE("init_from_file: an export file; missing file, no /params, bad exclude") {
  TempDir dir("init_from_export");
  Fixture f;
  WeightsData w;
  w.dtype = DType::BF16;
  w.policy = "fp32";
  w.params = {{"", "fc.weight", {2, 3}, {1, 2, 3, 4, 5, 6}}, {"", "fc.bias", {2}, {7, 8}},
              {"", "head.weight", {1, 2}, {9, 10}}};
  w.model_signature = "fc.weight [2, 3]\nfc.bias [2]\nhead.weight [1, 2]\n";
  const std::string path = (dir.path / "m.h5").string();
  write_weights_file(path, w);
  const InitFromReport r = init_from_file(*f.be, f.ps.list, path, {});
  CHECK(r.loaded == 3);
  CHECK(r.stored_dtype == "bf16");
  CHECK(f.master("head.weight") == std::vector<float>{9, 10});

  CHECK_THROWS_WITH_AS(init_from_file(*f.be, f.ps.list, (dir.path / "nope.h5").string(), {}),
                       doctest::Contains("no such file"), ConfigError);
  CHECK_THROWS_WITH_AS(init_from_file(*f.be, f.ps.list, path, {"fc", "hed"}),
                       doctest::Contains("\"hed\" (did you mean \"head\"?)"), ConfigError);
  const std::string empty = (dir.path / "empty.h5").string();
  { H5Handle file = h5_check(H5Fcreate(empty.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "create"); }
  CHECK_THROWS_WITH_AS(init_from_file(*f.be, f.ps.list, empty, {}),
                       doctest::Contains("has no /params group"), DataError);
}
