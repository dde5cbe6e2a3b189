// data_describe.cpp: describe_h5 (`mptrain inspect`) lists every group and dataset with type,
// shape, chunking and compression, and prints every attribute, checkpoint root attributes included.
#include "data/describe_h5.h"

#include <doctest/doctest.h>

#include "data/h5_types.h"
#include "data_test_files.h"

using namespace mp;
using mp::test::TempDir;

namespace {
bool has(const std::string& text, const std::string& line) {
  INFO("output:\n" << text);
  return text.find(line) != std::string::npos;
}
}  // namespace

TEST_CASE("describe_h5 on a checkpoint-like file") {
  TempDir d;
  const std::string p = d.file("ckpt.h5");
  {
    H5Handle f = h5_create(p);
    std::vector<float> w(6, 0.5f);
    std::vector<half> h(4, half(1.0f));
    std::vector<int64_t> s(1, 3);
    h5_write(f.get(), "/params/fc1/weight", {2, 3}, w.data());
    h5_write(f.get(), "/params/fc1/bias_fp16", {4}, h.data());
    h5_write(f.get(), "/optimizer/exp_avg/fc1/weight", {2, 3}, w.data(), 5);
    h5_write(f.get(), "/scaler/growth_tracker", {1}, s.data());
    h5_write_attr(f.get(), "/", "format_version", int64_t{1});
    h5_write_attr(f.get(), "/", "step", int64_t{500});
    h5_write_attr(f.get(), "/", "policy", std::string("fp16"));
    h5_write_attr(f.get(), "/", "loss_scale", 32768.0);
    h5_write_attr(f.get(), "/", "config", std::string("name: mnist\nseed: 0\n"));
    h5_write_attr(f.get(), "/params/fc1/weight", "note", std::string("master \"fp32\""));
    // An array attribute longer than the listing limit.
    std::vector<int32_t> arr(20);
    for (int i = 0; i < 20; ++i) arr[static_cast<size_t>(i)] = i * i;
    hsize_t n = 20;
    H5Handle space(H5Screate_simple(1, &n, nullptr));
    H5Handle a(H5Acreate2(f.get(), "rng_state", H5T_STD_I32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT));
    H5Awrite(a.get(), H5T_NATIVE_INT32, arr.data());
  }
  const std::string out = describe_h5(p);
  CHECK(has(out, "ckpt.h5  (HDF5, "));
  CHECK(has(out, "\n/  group\n"));
  CHECK(has(out, "    @format_version = 1\n"));
  CHECK(has(out, "    @step = 500\n"));
  CHECK(has(out, "    @policy = \"fp16\"\n"));
  CHECK(has(out, "    @loss_scale = 32768\n"));
  CHECK(has(out, "    @config = |\n      name: mnist\n      seed: 0\n"));
  CHECK(has(out, "    @rng_state = int32 [20] [0, 1, 4, 9, 16, 25, 36, 49, ...]\n"));
  CHECK(has(out, "/params  group\n"));
  CHECK(has(out, "/params/fc1/weight  float32 [2, 3]\n    @note = \"master \\\"fp32\\\"\"\n"));
  CHECK(has(out, "/params/fc1/bias_fp16  float16 [4]\n"));
  CHECK(has(out, "/optimizer/exp_avg/fc1/weight  float32 [2, 3]  chunks [2, 3]  gzip 5\n"));
  CHECK(has(out, "/scaler/growth_tracker  int64 [1]\n"));
  // Depth first, names in order: /optimizer before /params before /scaler.
  CHECK(out.find("/optimizer  group") < out.find("/params  group"));
  CHECK(out.find("/params  group") < out.find("/scaler  group"));
}

TEST_CASE("describe_h5 names unreadable types and refuses non-HDF5 files") {
  TempDir d;
  const std::string p = d.file("odd.h5");
  {
    H5Handle f = h5_create(p);
    H5Handle st(H5Tcopy(H5T_C_S1));
    H5Tset_size(st.get(), 3);
    const char words[2][3] = {"ab", "cd"};
    h5_write_dataset(f.get(), "/words", st.get(), st.get(), {2}, words);
    H5Lcreate_soft("/nowhere", f.get(), "/dangling", H5P_DEFAULT, H5P_DEFAULT);
  }
  const std::string out = describe_h5(p);
  CHECK(has(out, "/words  string(3) [2]\n"));
  CHECK(has(out, "/dangling  <unresolvable link>\n"));
  const std::string msg = mp::test::data_error_message([&] { describe_h5(d.file("missing.h5")); });
  CHECK(msg.find("missing.h5: data file not found") != std::string::npos);
}
