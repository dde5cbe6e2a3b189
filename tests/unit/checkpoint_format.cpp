// checkpoint_format.cpp: checkpoint files: bit-exact round trip, the documented HDF5 layout (also
// through h5py when installed), rejection of truncated/garbage/incomplete/corrupted files, the
// resume search, `latest`, keep-N pruning, failed saves, and the compatibility check.
#include <doctest/doctest.h>
#include <hdf5.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>

#include "checkpoint/atomic_file.h"
#include "checkpoint/checkpoint_compat.h"
#include "checkpoint/checkpoint_io.h"
#include "checkpoint/checkpoint_store.h"
#include "core/error.h"
#include "unit/checkpoint_fixtures.h"

using namespace mp;
using namespace mp::testing;
namespace fs = std::filesystem;

namespace {

// The DataError text read_checkpoint throws for `p` ("" if it loads).
std::string load_error(const fs::path& p) {
  try {
    read_checkpoint(p);
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

bool any_contains(const std::vector<std::string>& v, const std::string& part) {
  for (const auto& s : v)
    if (contains(s, part)) return true;
  return false;
}

void check_equal(const CheckpointData& a, const CheckpointData& b) {
  CHECK(a.step == b.step);
  CHECK(a.applied_steps == b.applied_steps);
  CHECK(a.epoch == b.epoch);
  CHECK(a.batch_in_epoch == b.batch_in_epoch);
  CHECK(a.rng_seed == b.rng_seed);
  CHECK(a.rng_offset == b.rng_offset);
  CHECK(a.policy == b.policy);
  CHECK(a.config_text == b.config_text);
  CHECK(a.model_signature == b.model_signature);
  CHECK(a.mptrain_version == b.mptrain_version);
  REQUIRE(a.params.size() == b.params.size());
  for (size_t i = 0; i < a.params.size(); ++i) {
    CHECK(a.params[i].slot == b.params[i].slot);
    CHECK(a.params[i].name == b.params[i].name);
    CHECK(a.params[i].shape == b.params[i].shape);
    CHECK(same_bits(a.params[i].values, b.params[i].values));
  }
  REQUIRE(a.optimizer.size() == b.optimizer.size());
  for (size_t i = 0; i < a.optimizer.size(); ++i) {
    CHECK(a.optimizer[i].slot == b.optimizer[i].slot);
    CHECK(a.optimizer[i].name == b.optimizer[i].name);
    CHECK(a.optimizer[i].shape == b.optimizer[i].shape);
    CHECK(same_bits(a.optimizer[i].values, b.optimizer[i].values));
  }
  CHECK(a.optimizer_step == b.optimizer_step);
  CHECK(a.scaler.scale == b.scaler.scale);
  CHECK(a.scaler.growth_tracker == b.scaler.growth_tracker);
  CHECK(a.scaler.hysteresis_tracker == b.scaler.hysteresis_tracker);
  CHECK(a.scaler.consecutive_skips == b.scaler.consecutive_skips);
  CHECK(a.scaler.total_skips == b.scaler.total_skips);
  CHECK(a.extra_strings == b.extra_strings);
  CHECK(a.extra_ints == b.extra_ints);
}

// Raw HDF5 edits a damaged or foreign file would have.
void edit_root(const fs::path& p, void (*edit)(hid_t root)) {
  hid_t f = H5Fopen(p.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  REQUIRE(f >= 0);
  edit(f);
  REQUIRE(H5Fclose(f) >= 0);
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void spit(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

}  // namespace

TEST_CASE("a checkpoint round-trips bit for bit with every attribute, in order") {
  TempDir dir("ckpt_roundtrip");
  CheckpointData d = make_checkpoint(42);
  uint32_t nan_bits = 0x7fc00123u;  // a NaN with a payload must survive as is
  float payload_nan;
  std::memcpy(&payload_nan, &nan_bits, 4);
  d.params[0].values = {payload_nan,
                        -0.0f,
                        1e-45f,
                        std::numeric_limits<float>::infinity(),
                        -std::numeric_limits<float>::max(),
                        0.1f};
  d.rng_seed = std::numeric_limits<uint64_t>::max();  // needs the full unsigned range
  d.config_text = "name: \"quoted\"\nnote: ünïcode ✓\n";
  const fs::path p = dir.path / "c.h5";
  write_checkpoint_file(p, d);
  const CheckpointData r = read_checkpoint(p);
  check_equal(d, r);
  CHECK(r.params[0].name == "layers.10.weight");  // creation order, not name order
  CHECK(r.params[2].shape.empty());               // scalar parameter
}

TEST_CASE("the file has the documented layout (HDF5 C API, and h5py when installed)") {
  TempDir dir("ckpt_layout");
  const fs::path p = dir.path / "c.h5";
  write_checkpoint_file(p, make_checkpoint(7));

  hid_t f = H5Fopen(p.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(f >= 0);
  for (const char* path :
       {"/params", "/params/layers.10.weight", "/params/layers.2.bias", "/params/scale",
        "/optimizer/exp_avg/layers.2.bias", "/optimizer/exp_avg_sq/scale", "/scaler/scale",
        "/scaler/growth_tracker", "/scaler/hysteresis_tracker"}) {
    INFO(path);
    CHECK(H5Lexists(f, path, H5P_DEFAULT) > 0);
  }
  for (const char* a : {"format_version", "step", "epoch", "batch_in_epoch", "rng_seed",
                        "rng_offset", "policy", "config", "mptrain_version", "complete"}) {
    INFO(a);
    CHECK(H5Aexists(f, a) > 0);
  }
  hid_t ds = H5Dopen2(f, "/params/layers.10.weight", H5P_DEFAULT);
  hid_t sp = H5Dget_space(ds);
  hsize_t dims[2] = {0, 0};
  CHECK(H5Sget_simple_extent_ndims(sp) == 2);
  H5Sget_simple_extent_dims(sp, dims, nullptr);
  CHECK(dims[0] == 3);
  CHECK(dims[1] == 2);
  H5Sclose(sp);
  H5Dclose(ds);
  H5Fclose(f);

  if (std::system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") != 0) {
    MESSAGE("h5py not installed for /usr/bin/python3: h5py part skipped");
    return;
  }
  const fs::path script = dir.path / "list.py";
  spit(script,
       "import sys, h5py\n"
       "f = h5py.File(sys.argv[1], 'r')\n"
       "f.visititems(lambda n, o: print('D', n, o.shape, o.dtype) if isinstance(o, h5py.Dataset) "
       "else None)\n"
       "for k in sorted(f.attrs): print('A', k, repr(f.attrs[k]))\n"
       "print('V', list(f['params/layers.2.bias'][()]))\n"
       "print('S', float(f['scaler/scale'][()]), int(f['optimizer'].attrs['step']))\n");
  const std::string cmd = "/usr/bin/python3 " + script.string() + " " + p.string();
  FILE* pipe = ::popen(cmd.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  CHECK(::pclose(pipe) == 0);
  INFO(out);
  CHECK(contains(out, "D params/layers.10.weight (3, 2) float32"));
  CHECK(contains(out, "D params/scale () float32"));
  CHECK(contains(out, "D optimizer/exp_avg_sq/layers.2.bias (3,) float32"));
  CHECK(contains(out, "D scaler/scale () float64"));
  CHECK(contains(out, "D scaler/total_skips () int64"));
  CHECK(contains(out, "A complete 1"));
  CHECK(contains(out, "A format_version 1"));
  CHECK(contains(out, "A policy 'fp16'"));
  CHECK(contains(out, "A step 7"));
  CHECK(contains(out, "A samples_seen 448"));
  CHECK(contains(out, "S 32768.0 4"));  // optimizer step = applied_steps = 7 - 3 skipped
  const auto bias = pattern(7, 2, 3);
  char expect[128];
  std::snprintf(expect, sizeof expect, "V [%.1f", static_cast<double>(bias[0]));
  CHECK(contains(out, expect));
}

TEST_CASE("read_checkpoint rejects damaged files with a DataError naming the file and the fault") {
  TempDir dir("ckpt_damaged");
  const fs::path p = dir.path / "step_00000005.h5";
  write_checkpoint_file(p, make_checkpoint(5, 2000));
  REQUIRE(load_error(p).empty());

  SUBCASE("truncated to half") {
    REQUIRE(::truncate(p.c_str(), static_cast<off_t>(fs::file_size(p) / 2)) == 0);
    const std::string e = load_error(p);
    CHECK(contains(e, "cannot load checkpoint " + p.string()));
    CHECK(contains(e, "truncated"));
    CHECK(contains(e, "resume from another checkpoint"));
  }
  SUBCASE("garbage bytes") {
    std::string junk(8192, '\0');
    for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>((i * 7919u) >> 3);
    spit(p, junk);
    const std::string e = load_error(p);
    CHECK(contains(e, p.string()));
    CHECK(contains(e, "does not open as an HDF5 file"));
  }
  SUBCASE("empty file") {
    spit(p, "");
    CHECK(contains(load_error(p), "does not open as an HDF5 file"));
  }
  SUBCASE("no `complete` attribute (an interrupted write)") {
    edit_root(p, [](hid_t f) { REQUIRE(H5Adelete(f, "complete") >= 0); });
    CHECK(contains(load_error(p), "incomplete"));
  }
  SUBCASE("unknown format version") {
    edit_root(p, [](hid_t f) {
      hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
      int64_t v = 2;
      REQUIRE(H5Awrite(a, H5T_NATIVE_INT64, &v) >= 0);
      H5Aclose(a);
    });
    CHECK(contains(load_error(p), "format_version is 2, this mptrain reads 1"));
  }
  SUBCASE("a missing attribute") {
    edit_root(p, [](hid_t f) { REQUIRE(H5Adelete(f, "rng_offset") >= 0); });
    CHECK(contains(load_error(p), "attribute 'rng_offset' is missing"));
  }
  SUBCASE("a missing scaler dataset") {
    edit_root(p,
              [](hid_t f) { REQUIRE(H5Ldelete(f, "/scaler/growth_tracker", H5P_DEFAULT) >= 0); });
    CHECK(contains(load_error(p), "dataset growth_tracker is missing"));
  }
  SUBCASE("flipped bits inside parameter values (checksum)") {
    std::string bytes = slurp(p);
    const auto values = pattern(5, 1, 2000);
    const std::string needle(reinterpret_cast<const char*>(values.data() + 500), 16);
    size_t at = bytes.find(needle);
    REQUIRE(at != std::string::npos);
    bytes[at + 5] = static_cast<char>(bytes[at + 5] ^ 0x10);
    spit(p, bytes);
    const std::string e = load_error(p);
    CHECK(contains(e, p.string()));
    CHECK(contains(e, "/params/layers.10.weight"));
  }
  SUBCASE("not there at all") {
    fs::remove(p);
    CHECK(contains(load_error(p), "does not exist"));
  }
}

TEST_CASE(
    "find_resume_checkpoint returns the newest checkpoint that reads back, warning about the "
    "rest") {
  TempDir dir("ckpt_resume");
  const fs::path ck = checkpoint_dir(dir.path);
  std::vector<std::string> warnings;

  SUBCASE("no checkpoint folder: nothing, silently") {
    CHECK_FALSE(find_resume_checkpoint(dir.path, warnings).has_value());
    CHECK(warnings.empty());
  }
  SUBCASE("all good: the one `latest` names") {
    for (int64_t s : {10, 20, 30}) save_checkpoint(dir.path, make_checkpoint(s), 5);
    auto r = find_resume_checkpoint(dir.path, warnings);
    REQUIRE(r.has_value());
    CHECK(r->data.step == 30);
    CHECK(r->path == ck / "step_00000030.h5");
    CHECK(warnings.empty());
    check_equal(r->data, make_checkpoint(30));
  }
  SUBCASE("the newest is truncated, a newer-numbered one is garbage: falls back to the good one") {
    for (int64_t s : {10, 20, 30}) save_checkpoint(dir.path, make_checkpoint(s), 5);
    const fs::path newest = ck / "step_00000030.h5";
    REQUIRE(::truncate(newest.c_str(), static_cast<off_t>(fs::file_size(newest) / 2)) == 0);
    spit(ck / "step_00000040.h5", "not an HDF5 file at all");
    auto r = find_resume_checkpoint(dir.path, warnings);
    REQUIRE(r.has_value());
    CHECK(r->data.step == 20);
    check_equal(r->data, make_checkpoint(20));
    REQUIRE(warnings.size() == 2);
    CHECK(contains(warnings[0], "step_00000030.h5"));  // `latest` first
    CHECK(contains(warnings[1], "step_00000040.h5"));
  }
  SUBCASE("a checkpoint without `complete` is skipped") {
    for (int64_t s : {10, 20}) save_checkpoint(dir.path, make_checkpoint(s), 5);
    edit_root(ck / "step_00000020.h5", [](hid_t f) { REQUIRE(H5Adelete(f, "complete") >= 0); });
    auto r = find_resume_checkpoint(dir.path, warnings);
    REQUIRE(r.has_value());
    CHECK(r->data.step == 10);
    REQUIRE(warnings.size() == 1);
    CHECK(contains(warnings[0], "incomplete"));
  }
  SUBCASE("`latest` names a missing file") {
    for (int64_t s : {10, 20}) save_checkpoint(dir.path, make_checkpoint(s), 5);
    spit(ck / "latest", "step_00000099.h5\n");
    auto r = find_resume_checkpoint(dir.path, warnings);
    REQUIRE(r.has_value());
    CHECK(r->data.step == 20);
    REQUIRE(warnings.size() == 1);
    CHECK(contains(warnings[0], "names step_00000099.h5, which does not exist"));
  }
  SUBCASE("`latest` is empty or missing") {
    for (int64_t s : {10, 20}) save_checkpoint(dir.path, make_checkpoint(s), 5);
    spit(ck / "latest", "");
    auto r = find_resume_checkpoint(dir.path, warnings);
    REQUIRE(r.has_value());
    CHECK(r->data.step == 20);
    CHECK(any_contains(warnings, "does not name a checkpoint"));
    fs::remove(ck / "latest");
    warnings.clear();
    r = find_resume_checkpoint(dir.path, warnings);
    REQUIRE(r.has_value());
    CHECK(r->data.step == 20);
    CHECK(any_contains(warnings, "latest is missing"));
  }
  SUBCASE("every checkpoint damaged: nothing, one warning each") {
    for (int64_t s : {10, 20}) save_checkpoint(dir.path, make_checkpoint(s), 5);
    for (const auto& f : list_checkpoints(dir.path)) spit(f.path, "junk");
    CHECK_FALSE(find_resume_checkpoint(dir.path, warnings).has_value());
    CHECK(warnings.size() == 2);
  }
}

TEST_CASE("save_checkpoint names files by step, updates latest and keeps the newest N") {
  TempDir dir("ckpt_keep");
  const fs::path ck = checkpoint_dir(dir.path);
  for (int64_t s = 1; s <= 5; ++s) {
    const fs::path p = save_checkpoint(dir.path, make_checkpoint(s), 2);
    CHECK(p == ck / checkpoint_filename(s));
    CHECK(read_file(ck / "latest") == checkpoint_filename(s) + "\n");
  }
  auto files = list_checkpoints(dir.path);
  REQUIRE(files.size() == 2);
  CHECK(files[0].step == 5);
  CHECK(files[1].step == 4);

  SUBCASE("saving an older step (a run resumed from an earlier checkpoint) keeps the new file") {
    save_checkpoint(dir.path, make_checkpoint(3), 2);
    files = list_checkpoints(dir.path);
    REQUIRE(files.size() == 2);
    CHECK(files[0].step == 5);
    CHECK(files[1].step == 3);
    std::vector<std::string> warnings;
    auto r = find_resume_checkpoint(dir.path, warnings);
    REQUIRE(r.has_value());
    CHECK(r->data.step == 3);  // `latest` wins over a higher number
  }
  SUBCASE("temp files of a crashed writer are removed by the next save") {
    spit(ck / ".step_00000006.h5.tmp.12345.0", "half a checkpoint");
    save_checkpoint(dir.path, make_checkpoint(6), 2);
    CHECK_FALSE(fs::exists(ck / ".step_00000006.h5.tmp.12345.0"));
  }
  SUBCASE("keep = 1") {
    save_checkpoint(dir.path, make_checkpoint(6), 1);
    files = list_checkpoints(dir.path);
    REQUIRE(files.size() == 1);
    CHECK(files[0].step == 6);
  }
}

TEST_CASE("a failed save leaves the earlier checkpoints and latest untouched, and no temp file") {
  TempDir dir("ckpt_fail");
  const fs::path ck = checkpoint_dir(dir.path);
  save_checkpoint(dir.path, make_checkpoint(5), 3);
  // The target name is taken by a non-empty directory: the rename must fail.
  fs::create_directories(ck / "step_00000007.h5" / "x");
  CHECK_THROWS_AS(save_checkpoint(dir.path, make_checkpoint(7), 3), DataError);
  CHECK(read_file(ck / "latest") == "step_00000005.h5\n");
  for (const auto& e : fs::directory_iterator(ck))
    CHECK_FALSE(is_temp_name(e.path().filename().string()));
  std::vector<std::string> warnings;
  auto r = find_resume_checkpoint(dir.path, warnings);
  REQUIRE(r.has_value());
  CHECK(r->data.step == 5);

  // A run directory that cannot exist (its parent is a file).
  spit(dir.path / "file", "x");
  try {
    save_checkpoint(dir.path / "file" / "run", make_checkpoint(1), 3);
    FAIL("expected a DataError");
  } catch (const DataError& e) {
    CHECK(contains(e.what(), "file/run/checkpoints"));
  }
}

TEST_CASE("checkpoint file names") {
  CHECK(checkpoint_filename(500) == "step_00000500.h5");
  CHECK(checkpoint_filename(123456789) == "step_123456789.h5");
  CHECK(parse_checkpoint_filename("step_00000500.h5") == 500);
  CHECK_FALSE(parse_checkpoint_filename("step_.h5").has_value());
  CHECK_FALSE(parse_checkpoint_filename("step_12a.h5").has_value());
  CHECK_FALSE(parse_checkpoint_filename(".step_00000500.h5.tmp.1.0").has_value());
  CHECK_FALSE(parse_checkpoint_filename("latest").has_value());
}

TEST_CASE("write_checkpoint_file refuses malformed data as a bug (MP_CHECK)") {
  TempDir dir("ckpt_bad");
  CheckpointData d = make_checkpoint(1);
  SUBCASE("duplicate parameter") { d.params.push_back(d.params[0]); }
  SUBCASE("value count does not match the shape") { d.params[1].values.pop_back(); }
  SUBCASE("a name with a slash") { d.params[1].name = "a/b"; }
  SUBCASE("an extra attribute with a reserved name") { d.extra_ints["step"] = 3; }
  CHECK_THROWS_AS(write_checkpoint_file(dir.path / "c.h5", d), InternalError);
}

TEST_CASE("check_compatible explains a different model or policy and what to do") {
  const CheckpointData ck = make_checkpoint(3);  // params [3, 2], [3], []
  const std::string same = make_model_signature(
      std::vector<ParamShape>{{"layers.10.weight", {3, 2}}, {"layers.2.bias", {3}}, {"scale", {}}});
  CHECK(same == ck.model_signature);
  CHECK_NOTHROW(check_compatible(ck, "c.h5", same, DType::F16));

  SUBCASE("a parameter of another shape, one missing, one added") {
    const std::string other = make_model_signature(std::vector<ParamShape>{
        {"layers.10.weight", {3, 4}}, {"scale", {}}, {"layers.3.bias", {4}}});
    try {
      check_compatible(ck, "runs/a/checkpoints/step_00000003.h5", other, DType::F16);
      FAIL("expected a ConfigError");
    } catch (const ConfigError& e) {
      const std::string m = e.what();
      INFO(m);
      CHECK(contains(m, "runs/a/checkpoints/step_00000003.h5"));
      CHECK(contains(m, "layers.10.weight: the checkpoint has [3, 2], the model has [3, 4]"));
      CHECK(contains(m, "layers.2.bias [3]: in the checkpoint, not in the model"));
      CHECK(contains(m, "layers.3.bias [4]: in the model, not in the checkpoint"));
      CHECK(contains(m, "start a new run directory"));
    }
  }
  SUBCASE("another precision policy") {
    try {
      check_compatible(ck, "c.h5", same, DType::BF16);
      FAIL("expected a ConfigError");
    } catch (const ConfigError& e) {
      CHECK(contains(e.what(), "precision.policy=fp16 but this run uses precision.policy=bf16"));
      CHECK(contains(e.what(), "--set precision.policy=fp16"));
    }
  }
  SUBCASE("a file whose tensors disagree with its own signature") {
    CheckpointData bad = ck;
    bad.params[1].shape = {1, 3};
    CHECK_THROWS_AS(check_compatible(bad, "c.h5", same, DType::F16), DataError);
  }
  SUBCASE("long difference lists are cut") {
    std::vector<ParamShape> many;
    for (int i = 0; i < 20; ++i) many.push_back({"p" + std::to_string(i), {i + 1}});
    auto diffs = signature_differences(same, make_model_signature(many), 8);
    REQUIRE(diffs.size() == 9);
    CHECK(diffs.back() == "... and 15 more");
  }
}
