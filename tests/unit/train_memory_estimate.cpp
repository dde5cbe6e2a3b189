// train_memory_estimate.cpp: the --dry-run memory estimate follows the engine the run will use
// (train/model_setup.h). The model is built on the CPU, as --dry-run builds it; a causal
// self-attention layer counts its [T, T] score/probability buffers only when its training steps
// run unfused on that engine (device cpu with attention auto, a head dim without CUDA kernels,
// dropout on the probabilities, attention unfused), and the fused path's fp32 log-sum-exp
// [H, T] when any step (training or evaluation) runs fused. No GPU is needed to estimate for cuda.
#include <doctest/doctest.h>

#include <sstream>

#include "backend/backend.h"
#include "config/spec_loader.h"
#include "nn/attention.h"
#include "precision/dtype_policy.h"
#include "train/model_setup.h"

using namespace mp;

namespace {

constexpr int64_t kT = 128, kC = 64, kBatch = 8;

RunSpec spec_for(const std::string& device, int64_t heads, double dropout,
                 const std::string& attention) {
  std::ostringstream o;
  o << "name: est\nseed: 1\ndevice: " << device << "\n"
    << "data: {file: none.h5, batch_size: " << kBatch << "}\n"
    << "model:\n  input_shape: [" << kT << ", " << kC << "]\n  loss: mse\n  layers:\n"
    << "    - causal_self_attention: {heads: " << heads << ", dropout: " << dropout
    << ", attention: " << attention << "}\n"
    << "optimizer: {type: sgd, lr: 0.1}\ntrain: {steps: 1}\n";
  return load_spec_from_string(o.str(), "est.yaml");
}

struct Estimated {
  MemoryEstimate m;
  std::string report;
};

Estimated estimate(const RunSpec& spec) {
  auto be = make_cpu_backend(1);
  auto model = Model::build(*be, spec.model.layers, spec.model.input_shape,
                            model_options(resolve_dtype_policy(spec.precision), 1));
  Estimated e;
  e.m = estimate_memory(spec, *model);
  e.report = model_report(spec, *model);
  return e;
}

// Activation bytes of the one attention layer in fp32: 2 x (18 T C + tt + 1) / 2 elements of 4
// bytes (values and gradients) plus `lse` bytes, per sample, times the micro-batch.
int64_t expected(int64_t tt, bool lse, int64_t heads) {
  return kBatch * (2 * ((18 * kT * kC + tt + 1) / 2) * 4 + (lse ? heads * kT * 4 : 0));
}

}  // namespace

TEST_CASE("memory estimate: attention auto counts [T, T] buffers on the CPU, not on CUDA") {
  const int64_t H = 2;  // d = 32: the CUDA flash kernels have it
  const int64_t tt3 = 3 * H * kT * kT;
  const Estimated cpu = estimate(spec_for("cpu", H, 0.0, "auto"));
  CHECK(cpu.m.activation_bytes == expected(tt3, false, H));
  const Estimated cuda = estimate(spec_for("cuda", H, 0.0, "auto"));
  CHECK(cuda.m.activation_bytes == expected(0, true, H));
  CHECK(cuda.m.activation_bytes < cpu.m.activation_bytes);
  CHECK(cuda.report.find("cuda engine") != std::string::npos);
  CHECK(cpu.report.find("cpu engine") != std::string::npos);
  // The parameters do not depend on the engine.
  CHECK(cuda.m.working_bytes == cpu.m.working_bytes);
}

TEST_CASE("memory estimate: the unfused path wherever a training step takes it") {
  // d = 16: no CUDA kernel, unfused on CUDA too.
  CHECK(estimate(spec_for("cuda", 4, 0.0, "auto")).m.activation_bytes ==
        expected(3 * 4 * kT * kT, false, 4));
  // attention: unfused.
  CHECK(estimate(spec_for("cuda", 2, 0.0, "unfused")).m.activation_bytes ==
        expected(3 * 2 * kT * kT, false, 2));
  // Dropout on the probabilities: training unfused (P' too), evaluation fused (lse): both kept.
  CHECK(estimate(spec_for("cuda", 2, 0.1, "auto")).m.activation_bytes ==
        expected(4 * 2 * kT * kT, true, 2));
  CHECK(estimate(spec_for("cpu", 2, 0.1, "auto")).m.activation_bytes ==
        expected(4 * 2 * kT * kT, false, 2));
  // attention: fused on the CPU (any d).
  CHECK(estimate(spec_for("cpu", 4, 0.0, "fused")).m.activation_bytes ==
        expected(0, true, 4));
}

TEST_CASE("memory estimate: device auto estimates for the engine make_backend would pick") {
  const Device want = cuda_device_count() > 0 ? Device::CUDA : Device::CPU;
  CHECK(estimate_device("auto") == want);
  CHECK(estimate_device("cpu") == Device::CPU);
  CHECK(estimate_device("cuda") == Device::CUDA);
  const Estimated a = estimate(spec_for("auto", 2, 0.0, "auto"));
  CHECK(a.m.activation_bytes ==
        (want == Device::CUDA ? expected(0, true, 2) : expected(3 * 2 * kT * kT, false, 2)));
}

TEST_CASE("fused_attention_supported: the CPU engine's answer, and CUDA's flash head dims") {
  auto be = make_cpu_backend(1);
  for (int64_t d = 1; d <= 256; ++d) {
    CAPTURE(d);
    CHECK(fused_attention_supported(Device::CPU, d) == be->fused_attention_supports(d));
    CHECK(fused_attention_supported(Device::CUDA, d) == (d == 32 || d == 64 || d == 128));
  }
}
