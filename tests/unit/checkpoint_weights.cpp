// checkpoint_weights.cpp: export files (checkpoint/weights_file.h): fp32 round trip exact, fp16/bf16
// stored as RNE of the fp32 masters bit for bit, half the value bytes, fp16 overflow refused, and
// reading a checkpoint or an export file through read_weights_any.
#include <doctest/doctest.h>
#include <hdf5.h>

#include <cmath>
#include <cstring>
#include <random>

#include "checkpoint/checkpoint_io.h"
#include "checkpoint/weights_file.h"
#include "core/error.h"
#include "core/half.h"
#include "unit/checkpoint_fixtures.h"

using namespace mp;
using mp::testing::TempDir;

namespace {

// A checkpoint whose parameters hold random values plus exact rounding ties of both 16-bit
// formats, subnormals and the largest finite fp16.
CheckpointData weights_checkpoint() {
  CheckpointData ck = mp::testing::make_checkpoint(7, 4096);
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  for (auto& p : ck.params)
    for (float& v : p.values) v = nd(rng);
  auto& v = ck.params[0].values;
  v[0] = 1.0f + 0x1p-11f;          // fp16 tie between 1 and 1 + 2^-10: RNE keeps 1
  v[1] = 1.0f + 3 * 0x1p-11f;      // fp16 tie: RNE rounds up to the even 1 + 2^-9
  v[2] = 1.0f + 0x1p-8f;           // bf16 tie: RNE keeps 1
  v[3] = 1.0f + 3 * 0x1p-8f;       // bf16 tie: RNE rounds up
  v[4] = 3e-6f;                    // an fp16 subnormal
  v[5] = -65504.0f;                // the largest fp16
  v[6] = 65519.0f;                 // rounds to 65504 in fp16, not to inf
  return ck;
}

WeightsData from_ck(const CheckpointData& ck) {
  WeightsData w;
  w.step = ck.step;
  w.policy = ck.policy;
  w.config_text = ck.config_text;
  w.model_signature = ck.model_signature;
  w.params = ck.params;
  return w;
}

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Bytes the /params datasets take in the file.
hsize_t params_storage(const std::filesystem::path& path) {
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(f >= 0);
  hsize_t total = 0;
  for (const char* name : {"layers.10.weight", "layers.2.bias", "layers.3.weight"}) {
    const hid_t ds = H5Dopen2(f, (std::string("/params/") + name).c_str(), H5P_DEFAULT);
    if (ds < 0) continue;
    total += H5Dget_storage_size(ds);
    H5Dclose(ds);
  }
  H5Fclose(f);
  return total;
}

}  // namespace

TEST_CASE("export round trip: fp32 exact, fp16 and bf16 equal to RNE of the masters bit for bit") {
  TempDir dir("weights");
  const CheckpointData ck = weights_checkpoint();
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    CAPTURE(dtype_name(dt));
    const auto path = dir.path / ("w_" + std::string(dtype_name(dt)) + ".h5");
    write_weights_file(path, rounded_weights(from_ck(ck), dt, "ck.h5"));
    REQUIRE(is_weights_file(path.string()));
    const WeightsData r = read_weights_file(path);
    CHECK(r.dtype == dt);
    CHECK(r.step == 7);
    CHECK(r.source_checkpoint == "ck.h5");
    CHECK(r.config_text == ck.config_text);
    REQUIRE(r.params.size() == ck.params.size());
    for (size_t i = 0; i < ck.params.size(); ++i) {
      CHECK(r.params[i].name == ck.params[i].name);  // model order kept
      CHECK(r.params[i].shape == ck.params[i].shape);
      const auto& want = ck.params[i].values;
      const auto& got = r.params[i].values;
      REQUIRE(got.size() == want.size());
      size_t wrong = 0;
      for (size_t k = 0; k < want.size(); ++k) {
        const float rne = dt == DType::F16    ? half_bits_to_float(float_to_half_bits(want[k]))
                          : dt == DType::BF16 ? bf16_bits_to_float(float_to_bf16_bits(want[k]))
                                              : want[k];
        wrong += bits(got[k]) != bits(rne);
      }
      CHECK(wrong == 0);
    }
    if (dt == DType::F16) {
      CHECK(r.params[0].values[0] == 1.0f);
      CHECK(r.params[0].values[1] == 1.0f + 0x1p-9f);
      CHECK(r.params[0].values[6] == 65504.0f);
    }
    if (dt == DType::BF16) {
      CHECK(r.params[0].values[2] == 1.0f);
      CHECK(r.params[0].values[3] == 1.0f + 0x1p-6f);
    }
  }
  const double f32 = static_cast<double>(params_storage(dir.path / "w_fp32.h5"));
  const double b16 = static_cast<double>(params_storage(dir.path / "w_bf16.h5"));
  const double h16 = static_cast<double>(params_storage(dir.path / "w_fp16.h5"));
  CHECK(f32 > 0);
  CHECK(b16 == doctest::Approx(f32 / 2).epsilon(0.01));  // checksums add a few bytes per chunk
  CHECK(h16 == doctest::Approx(f32 / 2).epsilon(0.01));
}

TEST_CASE("fp16 export refuses a value that would overflow, naming the parameter and the value") {
  CheckpointData ck = weights_checkpoint();
  ck.params[1].values[2] = -70000.0f;  // layers.2.bias
  std::string msg;
  try {
    rounded_weights(from_ck(ck), DType::F16, "ck.h5");
  } catch (const NumericalError& e) {
    msg = e.what();
  }
  CHECK(msg.find("layers.2.bias") != std::string::npos);
  CHECK(msg.find("70000") != std::string::npos);
  CHECK(msg.find("65504") != std::string::npos);
  // bf16 has fp32's range: the same weights export.
  CHECK(rounded_weights(from_ck(ck), DType::BF16, "ck.h5").params[1].values[2] == -70144.0f);
  ck.params[1].values[2] = 65520.0f;  // the first value that rounds to fp16 inf
  CHECK_THROWS_AS(rounded_weights(from_ck(ck), DType::F16, "ck.h5"), NumericalError);
}

TEST_CASE("read_weights_any reads checkpoints and export files; a checkpoint is not an export file") {
  TempDir dir("weights_any");
  CheckpointData ck = weights_checkpoint();
  ck.model_signature = "layers.10.weight [2048, 2]\n";
  const auto ck_path = dir.path / "step_7.h5";
  write_checkpoint_file(ck_path, ck);
  CHECK_FALSE(is_weights_file(ck_path.string()));
  CHECK_FALSE(describe_weights(ck_path.string()).has_value());
  const WeightsData a = read_weights_any(ck_path.string());
  CHECK(a.dtype == DType::F32);
  CHECK(a.params.size() == ck.params.size());
  const auto ex = dir.path / "bf16.h5";
  write_weights_file(ex, rounded_weights(a, DType::BF16, ck_path.string()));
  const WeightsData b = read_weights_any(ex.string());
  CHECK(b.dtype == DType::BF16);
  const auto summary = describe_weights(ex.string());
  REQUIRE(summary.has_value());
  CHECK(summary->find("dtype bf16") != std::string::npos);
  CHECK(summary->find("parameters") != std::string::npos);
  // A checkpoint's reader refuses the export file (it has no optimizer state), clearly.
  CHECK_THROWS_AS(read_checkpoint(ex), DataError);
}
