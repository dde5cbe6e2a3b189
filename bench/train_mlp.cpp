// train_mlp.cpp (bench_train_mlp): full training steps of the quickstart MLP
// (configs/mnist_mlp.yaml: flatten, linear 1024, relu, linear 1024, relu, linear 10; cross-entropy;
// AdamW) at batch 256 per dtype, through the real Model, Loss, Optimizer, LossScaler and
// optimizer_step, on synthetic inputs held in memory (so data loading is not measured), plus one
// row per dtype through the real DataLoader on MNIST (in_memory) to show the pipeline keeps up.
//
// Measured per dtype (fp32; bf16 and fp16 mixed precision with fp32 master weights; gradient
// clipping at norm 1 so the clip pass runs too): forward-only, forward+loss+backward and full-step
// times, steps/s, samples/s, peak tensor memory (Backend::peak_memory_bytes, a fresh backend per
// dtype), and FLOP rates: "model" = 6 x parameters x samples/s (the usual convention) and "GEMM" =
// the exact flops of the GEMMs a step runs (the first layer computes no input gradient, so this is
// ~15 % less than 6N). Both rates are divided by two ceilings measured in the same run with raw
// oneDNN matmul primitives: a 2048^3 square GEMM, and the step's own GEMM set (the 8 GEMMs of one
// step with the same shapes, transposes, dtypes, bias and beta). fp16 GEMMs are emulated on fp32
// (exact conversion, fp32 matmul, one rounding), so its ceilings are the fp32 ones.
//
// Timing: warm-up steps, then passes of rounds of ~round_s seconds per measurement; passes
// alternate dtypes and measurements so a burst of load from other processes falls on all of them.
// Every call is timed; tables show medians, and utilisation also at the 10th percentile (on a
// shared virtual machine, outside load can halve the speed for seconds at a time). The load
// average is printed.
//
// --freeze LIST (e.g. layers.1, the 784x1024 layer) adds a row "<dtype>+frz" per dtype whose model
// has those parameters frozen (optimizer.freeze: no weight-gradient GEMM, no optimizer update),
// timed in the same alternating passes, and a table of the step-time saving.
//
// Usage: bench_train_mlp [--threads N] [--rounds R] [--round-s S] [--dtypes fp32,bf16,fp16]
//                        [--data FILE.h5] [--csv FILE] [--no-loader] [--freeze LIST]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dnnl.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/backend.h"
#include "config/spec_loader.h"
#include "data/data_loader.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "optim/lr_schedule.h"
#include "optim/optimizer.h"
#include "optim/optimizer_step.h"
#include "precision/dtype_policy.h"
#include "precision/loss_scaler.h"
#include "bench_run.h"
#include "bench_timing.h"
#include "timing_backend.h"
#include "train/device_batch.h"
#include "train/step_normalisation.h"
#include "train/param_select.h"
#include "train/train_step.h"

using namespace mp;
using mp::bench::load_average;
using mp::bench::now;
using mp::bench::split_commas;
using mp::bench::Timed;

namespace {

constexpr int64_t kBatch = 256;
constexpr double kClipNorm = 1.0;

// ---- raw oneDNN matmuls (the ceilings) -----------------------------------------------------

using mdt = dnnl::memory::data_type;

struct GemmShape {
  const char* what;
  int64_t M, N, K;
  bool ta, tb;
  bool c_f32;  // C fp32 even when A/B are bf16 (weight gradients)
  float beta;  // 1 for weight gradients (accumulation)
  bool bias;   // forward: bias in the compute dtype
};

struct RawGemm {
  dnnl::matmul prim;
  std::unordered_map<int, dnnl::memory> args;
  double flop = 0;
};

// Buffers come from `be` (a backend kept apart from the measured ones, so their peak is clean).
RawGemm make_raw(Backend& be, dnnl::engine& eng, const GemmShape& s, DType dt,
                 std::vector<Tensor>& keep) {
  using dnnl::memory;
  const mdt ab = dt == DType::BF16 ? mdt::bf16 : mdt::f32;
  const mdt c = s.c_f32 ? mdt::f32 : ab;
  auto strides = [](int64_t r, int64_t cc, bool t) {
    return t ? memory::dims{1, r} : memory::dims{cc, 1};
  };
  const memory::desc a_md({s.M, s.K}, ab, strides(s.M, s.K, s.ta));
  const memory::desc b_md({s.K, s.N}, ab, strides(s.K, s.N, s.tb));
  const memory::desc c_md({s.M, s.N}, c, strides(s.M, s.N, false));
  const memory::desc bias_md({1, s.N}, ab, strides(1, s.N, false));
  dnnl::primitive_attr attr;
  if (s.beta != 0.0f) {
    dnnl::post_ops po;
    po.append_sum(s.beta);
    attr.set_post_ops(po);
  }
  const auto d =
      s.bias ? dnnl::matmul::desc(a_md, b_md, bias_md, c_md) : dnnl::matmul::desc(a_md, b_md, c_md);
  RawGemm g;
  g.prim = dnnl::matmul(dnnl::matmul::primitive_desc(d, attr, eng));
  const DType tdt = dt == DType::BF16 ? DType::BF16 : DType::F32;
  auto buf = [&](int64_t n, DType t) {
    keep.push_back(be.empty({n}, t));
    be.random_uniform(keep.back(), -1, 1, keep.size(), 0);
    return keep.back().raw();
  };
  g.args[DNNL_ARG_SRC] = memory(a_md, eng, buf(s.M * s.K, tdt));
  g.args[DNNL_ARG_WEIGHTS] = memory(b_md, eng, buf(s.K * s.N, tdt));
  g.args[DNNL_ARG_DST] = memory(c_md, eng, buf(s.M * s.N, s.c_f32 ? DType::F32 : tdt));
  if (s.bias) g.args[DNNL_ARG_BIAS] = memory(bias_md, eng, buf(s.N, tdt));
  g.flop = 2.0 * double(s.M) * double(s.N) * double(s.K);
  return g;
}

// The GEMMs of one training step of a 784-1024-1024-10 MLP at batch B, as nn/linear.cpp runs
// them: forward y = x W^T + b; backward dW += dy^T x (fp32 C, beta 1); dx = dy W except for the
// first layer.
std::vector<GemmShape> step_gemms(const std::vector<std::pair<int64_t, int64_t>>& layers) {
  std::vector<GemmShape> v;
  for (auto [in, out] : layers)
    v.push_back({"fwd", kBatch, out, in, false, true, false, 0.0f, true});
  for (size_t i = layers.size(); i-- > 0;) {
    auto [in, out] = layers[i];
    v.push_back({"dW", out, in, kBatch, true, false, true, 1.0f, false});
    if (i > 0) v.push_back({"dx", kBatch, in, out, false, false, false, 0.0f, false});
  }
  return v;
}

double gemm_flops(const std::vector<GemmShape>& v) {
  double f = 0;
  for (const auto& s : v) f += 2.0 * double(s.M) * double(s.N) * double(s.K);
  return f;
}

// ---- one dtype's training setup --------------------------------------------------------------

struct Run : bench::TrainRun {
  bool frozen = false;  // --freeze: the row label gets "+frz"
  Tensor x, y;
  Timed fwd, fwdbwd, step, loader_step;
  std::unique_ptr<DataLoader> loader;
  DeviceBatch db;
  double peak_bytes = 0;
  // ceilings (raw oneDNN): seconds per call of the square GEMM and of the step's GEMM set
  Timed sq, set, bset;  // bset: the step's GEMM set through Backend::gemm (warm, back to back)
  std::vector<std::function<void()>> bset_calls;
  std::vector<RawGemm> raws_sq, raws_set;
  std::vector<Tensor> raw_bufs;
  double sq_flop = 0, set_flop = 0;

  // One full step as the trainer runs it; every label counts, so N = the batch size.
  void train_step(const Tensor& in, const Tensor& target) {
    bench::TrainRun::train_step(in, target, in.dim(0));
  }
};

void run_raw(std::vector<RawGemm>& gs, dnnl::stream& strm) {
  for (auto& g : gs) g.prim.execute(strm, g.args);
  strm.wait();
}

struct Options {
  int threads = 2;
  int rounds = 5;
  double round_s = 0.4;
  std::vector<std::string> dtypes = {"fp32", "bf16", "fp16"};
  std::vector<std::string> freeze;  // --freeze: parameters frozen in the extra "+frz" rows
  std::string data;
  std::string csv;
  bool loader = true;
  bool verbose = false;
  double only_steps_s =
      0;  // --only-steps S: just run full steps of each dtype for S seconds (profiling)
  bool breakdown = false;  // --breakdown: time per backend op and per phase (no table)
};

Options parse(int argc, char** argv) {
  Options o;
  o.data = (std::filesystem::path(MPTRAIN_SOURCE_DIR) / "datasets/mnist/mnist.h5")
               .lexically_normal()
               .string();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--threads")
      o.threads = std::atoi(val().c_str());
    else if (a == "--rounds")
      o.rounds = std::max(1, std::atoi(val().c_str()));
    else if (a == "--round-s")
      o.round_s = std::atof(val().c_str());
    else if (a == "--dtypes")
      o.dtypes = split_commas(val());
    else if (a == "--data")
      o.data = val();
    else if (a == "--csv")
      o.csv = val();
    else if (a == "--freeze")
      o.freeze = split_commas(val());
    else if (a == "--no-loader")
      o.loader = false;
    else if (a == "--verbose" || a == "-v")
      o.verbose = true;
    else if (a == "--only-steps")
      o.only_steps_s = std::atof(val().c_str());
    else if (a == "--breakdown")
      o.breakdown = true;
    else {
      std::fprintf(
          stderr,
          "usage: bench_train_mlp [--threads N] [--rounds R] [--round-s S] [--dtypes "
          "fp32,bf16,fp16]\n"
          "                       [--data FILE.h5] [--csv FILE] [--no-loader] [--verbose]\n"
          "                       [--freeze layers.1,...]  (extra rows with those frozen)\n"
          "                       [--only-steps SECONDS]  (profiling: full steps only, no table)\n"
          "                       [--breakdown]  (time per backend op and phase, best of "
          "rounds)\n");
      std::exit(a == "--help" || a == "-h" ? 0 : 2);
    }
  }
  return o;
}

// Per-op and per-phase times of full steps: rounds of `steps` steps, each op's best round.
// Per-op and per-phase times of full steps. Each step's time per backend op is recorded; the table
// shows the 10th percentile over all steps per op (robust to bursts of load from elsewhere, which
// on this kind of machine can double a step), and the median in brackets.
void breakdown(Run& r, const Options& o, dnnl::stream& strm, const std::vector<GemmShape>& shapes) {
  auto& tb = static_cast<bench::TimingBackend&>(*r.be);
  for (int i = 0; i < 20; ++i) r.step.f();
  const int steps = 40 * std::max(3, o.rounds);
  std::map<std::string, std::vector<double>> per_op;  // op -> seconds in each step
  std::map<std::string, long long> calls;
  std::vector<double> t_step, t_fwd, t_loss, t_bwd, t_opt;
  for (int i = 0; i < steps; ++i) {
    tb.reset();
    Context ctx{*r.be, true, static_cast<uint64_t>(r.spec.seed), r.micro++};
    // TrainStep's phases one by one, to time each (Run::train_step runs them as one call).
    const StepNormalisation norm = step_normalisation(kBatch, r.scaler->scale());
    const float grad_scale = norm.grad_scale;
    const double a = now();
    const Tensor& out = r.model->forward(ctx, r.x);
    const double b = now();
    r.loss->compute(*r.be, out, r.y, grad_scale, true);
    const double c = now();
    r.model->backward(ctx, r.loss->grad());
    const double d = now();
    r.step_fn->finish(norm);
    const double e = now();
    t_step.push_back(e - a), t_fwd.push_back(b - a), t_loss.push_back(c - b);
    t_bwd.push_back(d - c), t_opt.push_back(e - d);
    for (const auto& [k, st] : tb.stats()) {
      per_op[k].push_back(st.seconds);
      calls[k] = st.calls;
    }
  }
  auto pct = [](std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[static_cast<size_t>(q * double(v.size() - 1))];
  };
  const double step10 = pct(t_step, 0.1);
  std::printf(
      "\n%s: %d steps, 10th percentile (median): step %.3f (%.3f) ms; forward %.3f (%.3f), loss "
      "%.3f (%.3f), backward %.3f (%.3f), optimizer_step %.3f (%.3f)\n",
      r.policy.c_str(), steps, step10 * 1e3, pct(t_step, 0.5) * 1e3, pct(t_fwd, 0.1) * 1e3,
      pct(t_fwd, 0.5) * 1e3, pct(t_loss, 0.1) * 1e3, pct(t_loss, 0.5) * 1e3, pct(t_bwd, 0.1) * 1e3,
      pct(t_bwd, 0.5) * 1e3, pct(t_opt, 0.1) * 1e3, pct(t_opt, 0.5) * 1e3);
  std::vector<std::pair<double, std::string>> rows;
  double sum = 0;
  for (const auto& [k, v] : per_op) {
    rows.push_back({pct(v, 0.1), k});
    sum += rows.back().first;
  }
  std::sort(rows.rbegin(), rows.rend());
  std::printf("  %-52s %6s %9s %9s %7s\n", "backend op", "calls", "p10 ms", "median", "share");
  for (const auto& [t, k] : rows)
    std::printf("  %-52s %6lld %9.3f %9.3f %6.1f%%\n", k.c_str(), calls[k], t * 1e3,
                pct(per_op[k], 0.5) * 1e3, 100.0 * t / step10);
  std::printf("  %-52s %6s %9.3f %9s %6.1f%%\n", "(step p10 - sum of op p10s)", "",
              (step10 - sum) * 1e3, "", 100.0 * (step10 - sum) / step10);
  std::printf("  raw oneDNN, each GEMM of the step alone (best of 30 calls, ms):");
  double raw_sum = 0;
  for (size_t i = 0; i < r.raws_set.size(); ++i) {
    std::vector<RawGemm> one{r.raws_set[i]};
    double b = 1e300;
    for (int k = 0; k < 30; ++k) {
      const double t0 = now();
      run_raw(one, strm);
      b = std::min(b, now() - t0);
    }
    raw_sum += b;
    std::printf("%s %s%s %lldx%lldx%lld %.3f", i % 3 ? "," : "\n   ", shapes[i].what, "",
                (long long)shapes[i].M, (long long)shapes[i].N, (long long)shapes[i].K, b * 1e3);
  }
  std::printf("\n  sum of the raw GEMMs %.3f ms\n", raw_sum * 1e3);
}

std::string spec_path() {
  return (std::filesystem::path(MPTRAIN_SOURCE_DIR) / "configs/mnist_mlp.yaml")
      .lexically_normal()
      .string();
}

}  // namespace

static int run_bench(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const double load0 = load_average();
  std::vector<std::unique_ptr<Run>> runs;
  auto ceil_be = make_cpu_backend(o.threads);  // buffers of the raw GEMMs live here
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  const std::vector<std::pair<int64_t, int64_t>> layers = {{784, 1024}, {1024, 1024}, {1024, 10}};
  const std::vector<GemmShape> set_shapes = step_gemms(layers);
  const double step_gemm_flop = gemm_flops(set_shapes);
  std::string device_name;
  int64_t params = 0;

  std::vector<std::pair<std::string, bool>> variants;  // (dtype, frozen)
  for (const std::string& policy : o.dtypes) {
    variants.emplace_back(policy, false);
    if (!o.freeze.empty()) variants.emplace_back(policy, true);
  }
  for (const auto& [policy, frozen] : variants) {
    auto r = std::make_unique<Run>();
    RunSpec spec =
        load_spec(spec_path(),
                  {"precision.policy=" + policy, "data.batch_size=" + std::to_string(kBatch),
                   "threads=" + std::to_string(o.threads), "data.in_memory=true",
                   "data.file=" + o.data, "optimizer.grad_clip_norm=" + std::to_string(kClipNorm)});
    std::unique_ptr<Backend> be = make_cpu_backend(o.threads);
    if (o.breakdown) be = std::make_unique<bench::TimingBackend>(std::move(be));
    device_name = be->name();
    r->build(std::move(spec), std::move(be));
    params = r->model->num_params();
    r->frozen = frozen;
    if (frozen) {
      r->policy += "+frz";
      freeze_params(r->model->params(), o.freeze);
    }
    // Synthetic batch: pixels in [0, 1] like MNIST after input_scale, labels 0..9.
    r->x = r->be->empty({kBatch, 784}, DType::F32);
    r->be->random_uniform(r->x, 0.0f, 1.0f, 7, 0);
    std::vector<int32_t> lab(kBatch);
    for (int64_t i = 0; i < kBatch; ++i) lab[size_t(i)] = int32_t((i * 7 + 3) % 10);
    r->y = r->be->empty({kBatch}, DType::I32);
    r->be->upload(lab.data(), r->y);

    Run* rp = r.get();
    rp->fwd.f = [rp] {
      Context ctx{*rp->be, true, 0, rp->micro};
      rp->model->forward(ctx, rp->x);
    };
    rp->fwdbwd.f = [rp] {  // the gradients accumulate (beta = 1) across calls; harmless here
      Context ctx{*rp->be, true, 0, rp->micro};
      const Tensor& out = rp->model->forward(ctx, rp->x);
      rp->loss->compute(*rp->be, out, rp->y, 1.0f / kBatch, true);
      rp->model->backward(ctx, rp->loss->grad());
    };
    rp->step.f = [rp] { rp->train_step(rp->x, rp->y); };
    if (o.loader) {
      rp->loader = std::make_unique<DataLoader>(Split::open(o.data, rp->spec.data.train, true),
                                                loader_options(rp->spec.data, 0));
      rp->loader_step.f = [rp] {
        const Batch b = rp->loader->next();
        upload_batch(*rp->be, b, rp->db);
        rp->train_step(rp->db.x, rp->db.target);
      };
    }
    // Ceilings: square 2048^3 and the step's GEMM set, raw oneDNN in this dtype (fp16 -> fp32).
    const DType cdt = r->compute == DType::BF16 ? DType::BF16 : DType::F32;
    const int64_t n = 2048;
    r->raws_sq.push_back(make_raw(*ceil_be, eng,
                                  {"square", n, n, n, false, false, cdt == DType::F32, 0.0f, false},
                                  cdt, r->raw_bufs));
    r->sq_flop = 2.0 * double(n) * double(n) * double(n);
    for (const GemmShape& s : set_shapes)
      r->raws_set.push_back(make_raw(*ceil_be, eng, s, cdt, r->raw_bufs));
    r->set_flop = step_gemm_flop;
    rp->sq.f = [rp, &strm] { run_raw(rp->raws_sq, strm); };
    rp->set.f = [rp, &strm] { run_raw(rp->raws_set, strm); };
    {
      const DType bdt = r->compute;
      Backend& cb = *ceil_be;
      for (const GemmShape& s : set_shapes) {
        Tensor A = cb.empty(s.ta ? Shape{s.K, s.M} : Shape{s.M, s.K}, bdt);
        Tensor B = cb.empty(s.tb ? Shape{s.N, s.K} : Shape{s.K, s.N}, bdt);
        Tensor C = cb.empty({s.M, s.N}, s.c_f32 ? DType::F32 : bdt);
        Tensor bias = cb.empty({s.N}, bdt);
        for (Tensor* t : {&A, &B, &C, &bias}) cb.random_uniform(*t, -1, 1, 11, 0);
        rp->bset_calls.push_back([&cb, s, A, B, C, bias]() mutable {
          cb.gemm(s.ta, s.tb, 1.0f, A, B, s.beta, C, s.bias ? &bias : nullptr);
        });
      }
      rp->bset.f = [rp] {
        for (auto& c : rp->bset_calls) c();
      };
    }

    if (o.breakdown) {
      breakdown(*rp, o, strm, set_shapes);
      continue;
    }
    if (o.only_steps_s > 0) {
      for (int i = 0; i < 20; ++i) rp->step.f();
      const double t0 = now();
      std::vector<double> each;
      for (double t = t0; t - t0 < o.only_steps_s;) {
        rp->step.f();
        const double t1 = now();
        each.push_back(t1 - t);
        t = t1;
      }
      if (std::getenv("MP_BENCH_DUMP_STEPS")) {
        for (double e : each) std::printf("%.3f ", e * 1e3);
        std::printf("\n");
      }
      std::sort(each.begin(), each.end());
      std::printf("%s: %zu steps, ms/step mean %.3f median %.3f p10 %.3f min %.3f\n",
                  r->policy.c_str(), each.size(), (now() - t0) / double(each.size()) * 1e3,
                  each[each.size() / 2] * 1e3, each[each.size() / 10] * 1e3, each[0] * 1e3);
      continue;
    }
    rp->step.calibrate(o.round_s, 20);
    rp->peak_bytes = double(rp->be->peak_memory_bytes());  // after steps: everything allocated
    rp->fwd.calibrate(o.round_s, 5);
    rp->fwdbwd.calibrate(o.round_s, 5);
    if (o.loader) rp->loader_step.calibrate(o.round_s, 5);
    rp->sq.calibrate(o.round_s, 1);
    rp->set.calibrate(o.round_s, 5);
    rp->bset.calibrate(o.round_s, 5);
    runs.push_back(std::move(r));
  }
  if (o.only_steps_s > 0 || o.breakdown) return 0;
  // Passes alternate dtypes and operations, so load bursts spread over all rows.
  for (int pass = 0; pass < o.rounds; ++pass)
    for (auto& r : runs) {
      for (Timed* t : {&r->step, &r->fwd, &r->fwdbwd, &r->set, &r->bset, &r->sq})
        t->round(o.round_s);
      if (o.loader) r->loader_step.round(o.round_s);
    }
  const double load1 = load_average();

  std::printf(
      "bench_train_mlp: MLP 784-1024-1024-10 (%lld parameters), batch %lld, AdamW, clip %.0f\n",
      static_cast<long long>(params), static_cast<long long>(kBatch), kClipNorm);
  std::printf(
      "%s; load average (1 min) %.2f at start, %.2f at end; %d passes; times are medians of all "
      "timed calls\n",
      device_name.c_str(), load0, load1, o.rounds);
  std::printf("GEMM flops per step %.3f G (exact); model flops 6 x params x batch = %.3f G\n",
              step_gemm_flop * 1e-9, 6.0 * double(params) * kBatch * 1e-9);
  std::printf("\n%-8s %8s %9s %8s %9s %10s %9s\n", "dtype", "fwd ms", "fwd+bwd", "step ms",
              "steps/s", "samples/s", "peak MiB");
  for (auto& r : runs) {
    const double st = r->step.med();
    std::printf("%-8s %8.3f %9.3f %8.3f %9.1f %10.0f %9.1f\n", r->policy.c_str(),
                r->fwd.med() * 1e3, r->fwdbwd.med() * 1e3, st * 1e3, 1.0 / st, kBatch / st,
                r->peak_bytes / (1024.0 * 1024.0));
  }
  // Utilisation: the step's FLOP rate over the GEMM ceilings, at the median and at the 10th
  // percentile of each measurement (what the machine does between bursts of outside load).
  auto util = [&](const char* title, double (Timed::*stat)() const) {
    std::printf("\n%s\n%-6s %9s %9s %10s %10s %9s %9s %9s %9s\n", title, "dtype", "GEMM GF/s",
                "6N GF/s", "set GF/s", "sq GF/s", "GEMM/set", "GEMM/sq", "6N/set", "6N/sq");
    for (auto& r : runs) {
      if (r->frozen) continue;  // fewer GEMM flops than step_gemm_flop: not comparable here
      const double st = ((r->step).*stat)();
      const double g = step_gemm_flop / st, m = 6.0 * double(params) * kBatch / st;
      const double set = r->set_flop / ((r->set).*stat)(), sq = r->sq_flop / ((r->sq).*stat)();
      std::printf("%-6s %9.1f %9.1f %10.1f %10.1f %8.1f%% %8.1f%% %8.1f%% %8.1f%%\n",
                  r->policy.c_str(), g * 1e-9, m * 1e-9, set * 1e-9, sq * 1e-9, 100 * g / set,
                  100 * g / sq, 100 * m / set, 100 * m / sq);
    }
  };
  util(
      "FLOP rate (medians). GEMM = exact GEMM flops of a step, 6N = 6 x params x samples; set = "
      "raw oneDNN on the step's 8 GEMMs, sq = raw oneDNN 2048^3 (fp16: fp32 ceilings, emulated)",
      &Timed::med);
  util("The same at the 10th percentile of every measurement", &Timed::p10);
  if (!o.freeze.empty()) {
    std::string list;
    for (const std::string& f : o.freeze) list += (list.empty() ? "" : ", ") + f;
    std::printf("\noptimizer.freeze [%s]: medians (10th percentiles), same alternating passes\n"
                "%-6s %17s %17s %8s %17s %17s\n", list.c_str(), "dtype", "step ms", "frozen ms",
                "saving", "fwd+bwd ms", "frozen ms");
    for (size_t i = 0; i + 1 < runs.size(); ++i) {
      const Run& a = *runs[i];
      const Run& b = *runs[i + 1];
      if (a.frozen || !b.frozen) continue;
      std::printf("%-6s %8.3f (%6.3f) %8.3f (%6.3f) %7.1f%% %8.3f (%6.3f) %8.3f (%6.3f)\n",
                  a.policy.c_str(), a.step.med() * 1e3, a.step.p10() * 1e3, b.step.med() * 1e3,
                  b.step.p10() * 1e3, 100.0 * (1.0 - b.step.med() / a.step.med()),
                  a.fwdbwd.med() * 1e3, a.fwdbwd.p10() * 1e3, b.fwdbwd.med() * 1e3,
                  b.fwdbwd.p10() * 1e3);
    }
  }
  if (o.loader) {
    std::printf("\nWith the data loader (MNIST %s, in_memory, prefetch %lld): full steps/s\n",
                o.data.c_str(),
                static_cast<long long>(runs.empty() ? 0 : runs[0]->spec.data.prefetch));
    std::printf("%-6s %14s %14s %9s\n", "dtype", "synthetic", "loader", "ratio");
    for (auto& r : runs)
      std::printf("%-6s %14.1f %14.1f %8.1f%%\n", r->policy.c_str(), 1.0 / r->step.med(),
                  1.0 / r->loader_step.med(), 100.0 * r->step.med() / r->loader_step.med());
  }
  for (auto& r : runs)
    if (r->scaler->total_skips() > 0)
      std::printf("note: %s skipped %lld of %lld steps (non-finite gradients; loss scale now %g)\n",
                  r->policy.c_str(), static_cast<long long>(r->scaler->total_skips()),
                  static_cast<long long>(r->steps), r->scaler->scale());
  if (o.verbose) {
    std::printf(
        "\n10th percentiles (ms): step / fwd / fwd+bwd / loader step / GEMM set / square / GEMM "
        "set via Backend::gemm\n");
    for (auto& r : runs)
      std::printf("%-6s %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f\n", r->policy.c_str(),
                  r->step.p10() * 1e3, r->fwd.p10() * 1e3, r->fwdbwd.p10() * 1e3,
                  o.loader ? r->loader_step.p10() * 1e3 : 0.0, r->set.p10() * 1e3,
                  r->sq.p10() * 1e3, r->bset.p10() * 1e3);
  }
  if (!o.csv.empty()) {
    FILE* f = std::fopen(o.csv.c_str(), "w");
    if (!f) {
      std::fprintf(stderr, "cannot write %s\n", o.csv.c_str());
      return 1;
    }
    std::fprintf(f,
                 "dtype,step_s,step_p10_s,fwd_s,fwdbwd_s,loader_step_s,set_s,square_s,gemm_flop,"
                 "model_flop,set_flop,square_flop,peak_bytes,load_start,load_end\n");
    for (auto& r : runs)
      std::fprintf(f, "%s,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.0f,%.2f,%.2f\n",
                   r->policy.c_str(), r->step.med(), r->step.p10(), r->fwd.med(), r->fwdbwd.med(),
                   o.loader ? r->loader_step.med() : 0.0, r->set.med(), r->sq.med(), step_gemm_flop,
                   6.0 * double(params) * kBatch, r->set_flop, r->sq_flop, r->peak_bytes, load0,
                   load1);
    std::fclose(f);
  }
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run_bench(argc, argv);
  } catch (const std::exception& e) {  // a missing config or data file, a backend error
    std::fprintf(stderr, "bench_train_mlp: error: %s\n", e.what());
    return 1;
  }
}
