// train_spec.cpp (bench_train_spec): full training steps of the model a run spec describes (e.g.
// configs/charlm_gpt.yaml, configs/mnist_cnn.yaml) per precision policy, through the trainer's own
// setup and step (bench_run.h), on one synthetic batch held on the device (data loading is not
// measured): token ids and next-token labels uniform over the vocabulary when the model starts
// with an embedding, else inputs uniform in [0, 1) with labels (or targets) of the output's shape.
//
// Measured per policy: forward, forward+loss+backward and full-step times (medians of alternating
// rounds, bench_timing.h), steps/s, samples/s, tokens/s (sequence models), peak tensor memory (a
// fresh backend per policy), and the GEMM FLOP rate: the exact flops of the GEMMs one step runs
// (counted through TimingBackend) per second of step, against a square 2048^3 GEMM through the same
// backend in the policy's dtype measured in this run (fp16 GEMMs are emulated on fp32 on the CPU).
// Also counted on one steady-state step: device -> host reads and tensor allocations (issue 12:
// one and zero).
//
// Usage: bench_train_spec --config F [--batch B] [--threads N] [--dtypes fp32,bf16,fp16]
//                         [--rounds R] [--round-s S] [--set KEY=VALUE]... [--csv FILE]
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "bench_run.h"
#include "bench_timing.h"
#include "config/spec_loader.h"
#include "core/philox.h"
#include "timing_backend.h"

using namespace mp;
using mp::bench::Timed;

namespace {

struct Options {
  std::string config;
  int64_t batch = 0;  // 0: the spec's data.batch_size
  int threads = 2;
  int rounds = 3;
  double round_s = 0.5;
  std::vector<std::string> dtypes = {"fp32", "bf16", "fp16"};
  std::vector<std::string> sets;
  std::string csv;
};

[[noreturn]] void usage(int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: bench_train_spec --config F [--batch B] [--threads N] [--dtypes "
               "fp32,bf16,fp16]\n"
               "                        [--rounds R] [--round-s S] [--set KEY=VALUE]... [--csv "
               "FILE]\n");
  std::exit(code);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage(2);
      return argv[++i];
    };
    if (a == "--config") o.config = val();
    else if (a == "--batch") o.batch = std::atoll(val().c_str());
    else if (a == "--threads") o.threads = std::atoi(val().c_str());
    else if (a == "--rounds") o.rounds = std::max(1, std::atoi(val().c_str()));
    else if (a == "--round-s") o.round_s = std::atof(val().c_str());
    else if (a == "--dtypes") o.dtypes = bench::split_commas(val());
    else if (a == "--set") o.sets.push_back(val());
    else if (a == "--csv") o.csv = val();
    else usage(a == "--help" || a == "-h" ? 0 : 2);
  }
  if (o.config.empty()) usage(2);
  return o;
}

// The vocabulary of a model whose first layer is an embedding, else 0.
int64_t embedding_vocab(const RunSpec& spec) {
  const auto& l = spec.model.layers;
  return !l.empty() && l[0].type == "embedding" ? l[0].get_int("vocab") : 0;
}

// The synthetic batch on the device, and how many loss terms (N) it has.
struct SyntheticBatch {
  Tensor x, target;
  int64_t count = 0;
};

SyntheticBatch make_batch(bench::TrainRun& r, int64_t batch) {
  Backend& be = *r.be;
  SyntheticBatch b;
  Shape xs{batch};
  for (int64_t d : r.spec.model.input_shape) xs.push_back(d);
  const int64_t per_sample = shape_numel(Shape(xs.begin() + 1, xs.end()));
  const int64_t vocab = embedding_vocab(r.spec);
  auto uniform_ints = [](int64_t n, int64_t range, uint64_t stream) {
    std::vector<int32_t> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      v[size_t(i)] = int32_t(philox_uniform(0x5eed, stream, uint64_t(i)) * double(range)) %
                     int32_t(range);
    return v;
  };
  b.x = be.empty(xs, DType::F32);
  if (vocab > 0) {  // token ids in, next-token labels [B, T] out
    const std::vector<int32_t> ids = uniform_ints(batch * per_sample, vocab, 1);
    std::vector<float> fx(ids.begin(), ids.end());
    be.upload(fx.data(), b.x);
    const std::vector<int32_t> lab = uniform_ints(batch * per_sample, vocab, 2);
    b.target = be.empty({batch, per_sample}, DType::I32);
    be.upload(lab.data(), b.target);
    b.count = batch * per_sample;
    return b;
  }
  be.random_uniform(b.x, 0.0f, 1.0f, 7, 0);
  const Shape& out = r.model->output_shape();
  if (r.loss->classification()) {
    const std::vector<int32_t> lab = uniform_ints(batch, out.back(), 3);
    b.target = be.empty({batch}, DType::I32);
    be.upload(lab.data(), b.target);
  } else {
    Shape ts{batch};
    ts.insert(ts.end(), out.begin(), out.end());
    b.target = be.empty(ts, DType::F32);
    be.random_uniform(b.target, -1.0f, 1.0f, 9, 0);
  }
  b.count = batch;
  return b;
}

struct PolicyRun {
  bench::TrainRun run;
  SyntheticBatch batch;
  Timed fwd, fwdbwd, step, square;
  Tensor sa, sb, sc;  // the square GEMM's operands
  double peak_bytes = 0;
  int64_t host_reads = 0;  // device -> host reads of one steady-state step (Backend::host_reads)
  int64_t allocations = 0;  // Backend::empty calls of that step (Backend::allocations)
};

RunSpec spec_for(const Options& o, const std::string& policy) {
  std::vector<std::string> sets = o.sets;
  sets.push_back("precision.policy=" + policy);
  sets.push_back("threads=" + std::to_string(o.threads));
  if (o.batch > 0) sets.push_back("data.batch_size=" + std::to_string(o.batch));
  RunSpec spec = load_spec(o.config, sets);
  if (spec.model.input_shape.empty())
    throw ConfigError(o.config + ": model.input_shape: the benchmark needs it set in the spec");
  return spec;
}

// Exact GEMM flops of one full step of `policy` (the GEMM set does not depend on the values).
double count_step_gemm_flop(const Options& o, const std::string& policy) {
  bench::TrainRun r;
  auto tb = std::make_unique<bench::TimingBackend>(make_cpu_backend(o.threads));
  bench::TimingBackend* counter = tb.get();
  r.build(spec_for(o, policy), std::move(tb));
  SyntheticBatch b = make_batch(r, r.spec.data.batch_size);
  counter->reset();
  r.train_step(b.x, b.target, b.count);
  return counter->gemm_flop();
}

int run_bench(const Options& o) {
  const double load0 = bench::load_average();
  std::vector<std::unique_ptr<PolicyRun>> runs;
  std::string device;
  const double step_flop = count_step_gemm_flop(o, o.dtypes.empty() ? "fp32" : o.dtypes[0]);
  const int64_t n = 2048;
  const double square_flop = 2.0 * double(n) * double(n) * double(n);
  for (const std::string& policy : o.dtypes) {
    auto p = std::make_unique<PolicyRun>();
    bench::TrainRun& r = p->run;
    r.build(spec_for(o, policy), make_cpu_backend(o.threads));
    device = r.be->name();
    p->batch = make_batch(r, r.spec.data.batch_size);
    PolicyRun* pp = p.get();
    p->fwd.f = [pp] {
      Context ctx{*pp->run.be, true, 0, pp->run.micro};
      pp->run.model->forward(ctx, pp->batch.x);
    };
    p->fwdbwd.f = [pp] {  // gradients accumulate across calls; harmless for timing
      Context ctx{*pp->run.be, true, 0, pp->run.micro};
      const Tensor& out = pp->run.model->forward(ctx, pp->batch.x);
      pp->run.loss->compute(*pp->run.be, out, pp->batch.target, 1.0f / float(pp->batch.count),
                            true);
      pp->run.model->backward(ctx, pp->run.loss->grad());
    };
    p->step.f = [pp] { pp->run.train_step(pp->batch.x, pp->batch.target, pp->batch.count); };
    for (Tensor* t : {&p->sa, &p->sb, &p->sc}) {
      *t = r.be->empty({n, n}, r.compute);
      r.be->random_uniform(*t, -1, 1, 11, 0);
    }
    p->square.f = [pp] {
      pp->run.be->gemm(false, false, 1.0f, pp->sa, pp->sb, 0.0f, pp->sc);
      pp->run.be->synchronize();
    };
    p->step.calibrate(o.round_s, 5);
    // One more step, steady state (after calibration).
    const int64_t reads0 = r.be->host_reads(), allocs0 = r.be->allocations();
    p->step.f();
    p->host_reads = r.be->host_reads() - reads0;
    p->allocations = r.be->allocations() - allocs0;
    p->peak_bytes = double(r.be->peak_memory_bytes());  // after steps, before the square GEMM
    p->fwd.calibrate(o.round_s, 3);
    p->fwdbwd.calibrate(o.round_s, 3);
    p->square.calibrate(o.round_s, 1);
    runs.push_back(std::move(p));
  }
  for (int pass = 0; pass < o.rounds; ++pass)
    for (auto& p : runs)
      for (Timed* t : {&p->step, &p->fwd, &p->fwdbwd, &p->square}) t->round(o.round_s);
  const double load1 = bench::load_average();
  if (runs.empty()) return 0;

  const bench::TrainRun& r0 = runs[0]->run;
  const int64_t batch = r0.spec.data.batch_size;
  const bool tokens = embedding_vocab(r0.spec) > 0;
  const int64_t per_step = runs[0]->batch.count;  // tokens (sequence models) or samples
  std::printf("bench_train_spec: %s (%lld parameters), batch %lld%s, %s\n", o.config.c_str(),
              static_cast<long long>(r0.model->num_params()), static_cast<long long>(batch),
              tokens ? (" x context " + std::to_string(per_step / batch)).c_str() : "",
              r0.spec.optimizer.type.c_str());
  std::printf("%s; load average (1 min) %.2f at start, %.2f at end; %d passes; medians of all "
              "timed calls\n",
              device.c_str(), load0, load1, o.rounds);
  std::printf("GEMM flops per step %.3f G (exact, counted); square = %lld^3 GEMM through the "
              "backend in the policy's dtype\n\n",
              step_flop * 1e-9, static_cast<long long>(n));
  std::printf("%-6s %8s %9s %8s %8s %10s %10s %9s %10s %10s %7s\n", "dtype", "fwd ms", "fwd+bwd",
              "step ms", "steps/s", "samples/s", tokens ? "tokens/s" : "-", "peak MiB",
              "GEMM GF/s", "sq GF/s", "share");
  for (auto& p : runs) {
    const double st = p->step.med();
    const double g = step_flop / st, sq = square_flop / p->square.med();
    std::printf("%-6s %8.2f %9.2f %8.2f %8.2f %10.0f %10.0f %9.1f %10.1f %10.1f %6.1f%%\n",
                p->run.policy.c_str(), p->fwd.med() * 1e3, p->fwdbwd.med() * 1e3, st * 1e3,
                1.0 / st, double(batch) / st, tokens ? double(per_step) / st : 0.0,
                p->peak_bytes / (1024.0 * 1024.0), g * 1e-9, sq * 1e-9, 100.0 * g / sq);
  }
  std::printf("host reads/step:");
  for (auto& p : runs)
    std::printf(" %s %lld", p->run.policy.c_str(), static_cast<long long>(p->host_reads));
  std::printf(" (device -> host reads of one training step, Backend::host_reads)\n");
  std::printf("allocations/step:");
  for (auto& p : runs)
    std::printf(" %s %lld", p->run.policy.c_str(), static_cast<long long>(p->allocations));
  std::printf(" (tensors allocated by one training step, Backend::allocations)\n");
  for (auto& p : runs)
    if (p->run.scaler->total_skips() > 0)
      std::printf("note: %s skipped %lld of %lld steps (non-finite gradients on random data)\n",
                  p->run.policy.c_str(), static_cast<long long>(p->run.scaler->total_skips()),
                  static_cast<long long>(p->run.steps));
  if (!o.csv.empty()) {
    FILE* f = std::fopen(o.csv.c_str(), "w");
    if (!f) {
      std::fprintf(stderr, "bench_train_spec: cannot write %s\n", o.csv.c_str());
      return 1;
    }
    std::fprintf(f, "dtype,step_s,step_p10_s,fwd_s,fwdbwd_s,per_step,batch,gemm_flop,square_s,"
                    "square_flop,peak_bytes,load_start,load_end\n");
    for (auto& p : runs)
      std::fprintf(f, "%s,%.9g,%.9g,%.9g,%.9g,%lld,%lld,%.9g,%.9g,%.9g,%.0f,%.2f,%.2f\n",
                   p->run.policy.c_str(), p->step.med(), p->step.p10(), p->fwd.med(),
                   p->fwdbwd.med(), static_cast<long long>(per_step),
                   static_cast<long long>(batch), step_flop, p->square.med(), square_flop,
                   p->peak_bytes, load0, load1);
    std::fclose(f);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run_bench(parse(argc, argv));
  } catch (const std::exception& e) {  // a bad config, an unresolved policy, a backend error
    std::fprintf(stderr, "bench_train_spec: error: %s\n", e.what());
    return 1;
  }
}
