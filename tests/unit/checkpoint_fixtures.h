// checkpoint_fixtures.h: helpers shared by the checkpoint_* and train_run_files tests:
// a scratch directory removed at scope exit, a deterministic CheckpointData, bit-exact comparison.
#pragma once
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_data.h"

namespace mp::testing {

struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag) {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           ("mptrain_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

// Values that depend on (step, salt, index) only, so a reader can check what it got.
inline std::vector<float> pattern(int64_t step, int salt, size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = static_cast<float>(step) * 0.5f + static_cast<float>(salt) * 1000.0f +
           static_cast<float>(i) * 0.001f;
  return v;
}

// A checkpoint of a 3-parameter model (+ 2 optimizer slots) at `step`; `big` elements in the first
// weight (to make files large for the crash test).
inline CheckpointData make_checkpoint(int64_t step, size_t big = 6) {
  CheckpointData d;
  const int64_t skipped = std::min<int64_t>(step, 3);  // counters agree: step = applied + skipped
  d.step = step;
  d.applied_steps = step - skipped;
  d.epoch = step / 7;
  d.batch_in_epoch = step % 7;
  d.rng_seed = 0xFEDCBA9876543210ull;
  d.rng_offset = static_cast<uint64_t>(step) * 4;
  d.policy = "fp16";
  d.config_text = "name: test\nmodel:\n  layers: [{type: linear, out: 3}]\n";
  d.mptrain_version = "0.1.0";
  // Deliberately not in name order: the reader must keep this order.
  d.params.push_back(
      {"", "layers.10.weight", {static_cast<int64_t>(big / 2), 2}, pattern(step, 1, big)});
  d.params.push_back({"", "layers.2.bias", {3}, pattern(step, 2, 3)});
  d.params.push_back({"", "scale", {}, pattern(step, 3, 1)});
  for (const char* slot : {"exp_avg_sq", "exp_avg"})
    for (const auto& p : d.params)
      d.optimizer.push_back(
          {slot, p.name, p.shape,
           pattern(step, std::string(slot) == "exp_avg" ? 4 : 5, p.values.size())});
  d.model_signature =
      "layers.10.weight [" + std::to_string(big / 2) + ", 2]\nlayers.2.bias [3]\nscale []\n";
  d.optimizer_step = d.applied_steps;
  d.scaler = {32768.0, 17, 1, 0, skipped};
  d.extra_ints["samples_seen"] = step * 64;
  d.extra_strings["note"] = "resume test";
  return d;
}

inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace mp::testing
