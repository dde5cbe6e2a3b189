// train_flops.cpp (bench_train_flops): the model FLOPs of one training step of a run spec, for an
// MFU (model FLOP/s over the device's peak) in scripts/gpu_check.sh. It builds the model as the
// trainer does (bench_run.h) on the CPU backend wrapped in TimingBackend, runs one full step
// (forward, loss, backward, optimizer) on a batch of the spec's batch size and counts the exact
// flops of the GEMMs that step ran (TimingBackend::gemm_flop: 2 M N K per product, forward and
// backward, attention's batched products included, causal masking not discounted: the way llm.c
// and PaLM count). The GEMM set depends on shapes only, so the batch is plain index patterns, and
// the policy is fp32 unless --set precision.policy says otherwise (the policy changes dtypes, not
// shapes); the count stands for a step of the same spec on any device.
//
// Prints `key value` lines: params, batch, tokens_per_sample (0 when the model does not start
// with an embedding), gemm_flop_per_step, and the 6 * params * tokens estimate for comparison.
// Exit status: 0, 2 for a bad command line or spec, 3 for a data error, 1 otherwise.
//
// Usage: bench_train_flops --config F [--set KEY=VALUE]...
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "bench_run.h"
#include "config/spec_loader.h"
#include "core/error.h"
#include "timing_backend.h"

using namespace mp;

namespace {

struct Options {
  std::string config;
  std::vector<std::string> sets;
};

constexpr const char* kUsage = "usage: bench_train_flops --config F [--set KEY=VALUE]...\n";

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      o.config = argv[++i];
    } else if (a == "--set" && i + 1 < argc) {
      o.sets.emplace_back(argv[++i]);
    } else {
      throw ConfigError("unexpected argument '" + a + "'\n" + kUsage);
    }
  }
  if (o.config.empty()) throw ConfigError(std::string("--config is required\n") + kUsage);
  return o;
}

// Index patterns of the right shapes and dtypes for one step: inputs i % range as floats (token
// ids for an embedding model), labels i % classes, regression targets zero.
struct PatternBatch {
  Tensor x, target;
  int64_t count = 0;      // loss terms: tokens or samples
  int64_t per_sample = 0; // tokens per sample of a token model, else 0
};

std::vector<int32_t> index_pattern(int64_t n, int64_t range) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = int32_t(i % range);
  return v;
}

PatternBatch pattern_batch(bench::TrainRun& r) {
  Backend& be = *r.be;
  const int64_t batch = r.spec.data.batch_size;
  const Shape& in = r.spec.model.input_shape;
  Shape xs{batch};
  xs.insert(xs.end(), in.begin(), in.end());
  const int64_t per_sample = shape_numel(in);
  const auto& layers = r.spec.model.layers;
  const int64_t vocab = !layers.empty() && layers[0].type == "embedding" ? layers[0].get_int("vocab") : 0;
  PatternBatch b;
  b.x = be.empty(xs, DType::F32);
  const Shape& out = r.model->output_shape();
  if (vocab > 0) {
    const std::vector<int32_t> ids = index_pattern(batch * per_sample, vocab);
    const std::vector<float> fx(ids.begin(), ids.end());
    be.upload(fx.data(), b.x);
    b.target = be.empty({batch, per_sample}, DType::I32);
    be.upload(index_pattern(batch * per_sample, out.back()).data(), b.target);
    b.count = batch * per_sample;
    b.per_sample = per_sample;
    return b;
  }
  be.fill(b.x, 0.5f);
  if (r.loss->classification()) {
    b.target = be.empty({batch}, DType::I32);
    be.upload(index_pattern(batch, out.back()).data(), b.target);
  } else {
    Shape ts{batch};
    ts.insert(ts.end(), out.begin(), out.end());
    b.target = be.empty(ts, DType::F32);
    be.fill(b.target, 0.0f);
  }
  b.count = batch;
  return b;
}

int run(const Options& o) {
  std::vector<std::string> sets = o.sets;
  RunSpec spec = load_spec(o.config, sets);
  if (spec.precision.policy == "auto") {
    sets.push_back("precision.policy=fp32");
    spec = load_spec(o.config, sets);
  }
  if (spec.model.input_shape.empty())
    throw ConfigError(o.config + ": model.input_shape: bench_train_flops needs it set in the spec");
  bench::TrainRun r;
  auto tb = std::make_unique<bench::TimingBackend>(make_cpu_backend(static_cast<int>(spec.threads)));
  bench::TimingBackend* counter = tb.get();
  r.build(std::move(spec), std::move(tb));
  const PatternBatch b = pattern_batch(r);
  counter->reset();
  r.train_step(b.x, b.target, b.count);
  const double params = double(r.model->num_params());
  const double tokens = double(b.per_sample > 0 ? b.count : r.spec.data.batch_size);
  std::printf("config %s\n", o.config.c_str());
  std::printf("params %.0f\n", params);
  std::printf("batch %lld\n", static_cast<long long>(r.spec.data.batch_size));
  std::printf("tokens_per_sample %lld\n", static_cast<long long>(b.per_sample));
  std::printf("gemm_flop_per_step %.0f\n", counter->gemm_flop());
  std::printf("six_params_tokens %.0f\n", 6.0 * params * tokens);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_train_flops: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train_flops: error: %s\n", e.what());
    return 1;
  }
}
