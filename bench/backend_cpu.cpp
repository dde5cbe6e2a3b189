// backend_cpu.cpp (bench_backend_cpu): CPU backend throughput against references measured in the
// same run. GEMM GFLOP/s per dtype through Backend::gemm vs a raw oneDNN matmul primitive on the
// same shapes (fp16, which oneDNN cannot run on this CPU, is compared with the raw fp32 matmul it
// is emulated on); elementwise GB/s (casts, relu and GELU forward/backward, AdamW) vs the
// backend's own parallel fp32 copy. Best of several rounds (GEMM rounds alternate backend and
// raw; passes over all cases spread each case's rounds over the run; best round kept).
// Usage: bench_backend_cpu [threads [passes]] (threads 0 or absent: OMP_NUM_THREADS or all
// cores; passes default 4).
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dnnl.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"

using namespace mp;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Calls of f per round so that a round lasts about `round_s` seconds (after a warm-up call).
int reps_for(const std::function<void()>& f, double round_s) {
  f();  // warm-up (primitive creation, first touch)
  const double t0 = now();
  f();
  return std::max(1, int(round_s / std::max(now() - t0, 1e-6)));
}

double time_round(const std::function<void()>& f, int reps) {
  const double t0 = now();
  for (int i = 0; i < reps; ++i) f();
  return (now() - t0) / reps;
}

struct RawMatmul {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  dnnl::matmul prim;
  dnnl::memory a, b, c;
  RawMatmul(int64_t n, dnnl::memory::data_type ab, dnnl::memory::data_type cd, void* pa, void* pb, void* pc) {
    using tag = dnnl::memory::format_tag;
    dnnl::memory::desc amd({n, n}, ab, tag::ab), bmd({n, n}, ab, tag::ab), cmd({n, n}, cd, tag::ab);
    prim = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(amd, bmd, cmd), eng));
    a = dnnl::memory(amd, eng, pa);
    b = dnnl::memory(bmd, eng, pb);
    c = dnnl::memory(cmd, eng, pc);
  }
  void run() {
    prim.execute(strm, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
    strm.wait();
  }
};

// One GEMM configuration: the backend call and the raw oneDNN call on the same shape.
struct GemmCase {
  DType dt;
  int64_t n;
  Tensor A, B, C, Ar, Br, Cr;
  std::unique_ptr<RawMatmul> raw;
  std::function<void()> fb, fr;
  int rb = 1, rr = 1;
  double tb = 1e300, tr = 1e300;
};

void gemm_table(Backend& be, int passes) {
  std::vector<std::unique_ptr<GemmCase>> cases;
  for (DType dt : {DType::F32, DType::BF16, DType::F16})
    for (int64_t n : {256, 512, 1024, 2048}) {
      auto c = std::make_unique<GemmCase>();
      GemmCase& g = *c;
      g.dt = dt;
      g.n = n;
      g.A = be.empty({n, n}, dt), g.B = be.empty({n, n}, dt), g.C = be.empty({n, n}, dt);
      be.random_uniform(g.A, -1, 1, 1, 0);
      be.random_uniform(g.B, -1, 1, 2, 0);
      // raw reference: same dtype primitive (fp16: the fp32 matmul the backend runs after converting)
      const bool f16 = dt == DType::F16;
      g.Ar = f16 ? be.empty({n, n}, DType::F32) : g.A;
      g.Br = f16 ? be.empty({n, n}, DType::F32) : g.B;
      g.Cr = be.empty({n, n}, f16 ? DType::F32 : dt);
      if (f16) {
        be.cast(g.A, g.Ar);
        be.cast(g.B, g.Br);
      }
      const auto ddt = dt == DType::BF16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
      g.raw = std::make_unique<RawMatmul>(n, ddt, ddt, g.Ar.raw(), g.Br.raw(), g.Cr.raw());
      g.fb = [&be, &g] { be.gemm(false, false, 1.0f, g.A, g.B, 0.0f, g.C); };
      g.fr = [&g] { g.raw->run(); };
      g.rb = reps_for(g.fb, 0.05);
      g.rr = reps_for(g.fr, 0.05);
      cases.push_back(std::move(c));
    }
  // Passes spread each case's rounds over the whole run, and rounds alternate backend and raw, so
  // a burst of load from other processes cannot spoil one row or favour one side.
  for (int pass = 0; pass < passes; ++pass)
    for (auto& c : cases)
      for (int round = 0; round < 3; ++round) {
        c->tb = std::min(c->tb, time_round(c->fb, c->rb));
        c->tr = std::min(c->tr, time_round(c->fr, c->rr));
      }
  std::printf("\nGEMM C[n,n] = A[n,n] B[n,n] (no transposes, alpha 1, beta 0), GFLOP/s\n");
  std::printf("%-6s %6s %14s %14s %8s   %s\n", "dtype", "n", "backend", "raw oneDNN", "ratio", "raw reference");
  for (auto& c : cases) {
    const double flop = 2.0 * double(c->n) * double(c->n) * double(c->n);
    std::printf("%-6s %6lld %14.1f %14.1f %7.1f%%   %s\n", std::string(dtype_name(c->dt)).c_str(),
                (long long)c->n, flop / c->tb * 1e-9, flop / c->tr * 1e-9, 100.0 * c->tr / c->tb,
                c->dt == DType::F16 ? "fp32 matmul (fp16 is emulated)" : "same dtype");
  }
}

void elementwise_table(Backend& be, int passes) {
  const int64_t n = int64_t(1) << 24;  // 16 Mi elements: far beyond cache
  Tensor f32a = be.empty({n}, DType::F32), f32b = be.empty({n}, DType::F32);
  Tensor f16 = be.empty({n}, DType::F16), bf16 = be.empty({n}, DType::BF16), bf16b = be.empty({n}, DType::BF16);
  Tensor m = be.empty({n}, DType::F32), v = be.empty({n}, DType::F32);
  Tensor dy32 = be.empty({n}, DType::F32), dy16 = be.empty({n}, DType::BF16);  // distinct gradients
  be.random_uniform(f32a, -1, 1, 3, 0);
  be.random_uniform(dy32, -1, 1, 4, 0);
  be.cast(dy32, dy16);
  be.cast(f32a, f16);
  be.cast(f32a, bf16);
  be.fill(m, 0.0f);
  be.fill(v, 0.0f);
  struct Row {
    const char* name;
    double bytes_per_elem;
    std::function<void()> f;
    int reps = 1;
    double t = 1e300;
  };
  AdamWHyper h;
  std::vector<Row> rows = {
      {"copy fp32 (reference)", 8, [&] { be.copy(f32a, f32b); }},
      {"cast fp32 -> bf16", 6, [&] { be.cast(f32a, bf16b); }},
      {"cast bf16 -> fp32", 6, [&] { be.cast(bf16, f32b); }},
      {"cast fp32 -> fp16", 6, [&] { be.cast(f32a, f16); }},
      {"cast fp16 -> fp32", 6, [&] { be.cast(f16, f32b); }},
      {"relu fwd fp32", 8, [&] { be.activation_forward(Act::Relu, f32a, f32b); }},
      {"relu fwd bf16", 4, [&] { be.activation_forward(Act::Relu, bf16, bf16b); }},
      {"relu bwd fp32", 12, [&] { be.activation_backward(Act::Relu, f32a, dy32, f32b); }},
      {"relu bwd bf16", 6, [&] { be.activation_backward(Act::Relu, bf16, dy16, bf16b); }},
      {"gelu_tanh fwd fp32", 8, [&] { be.activation_forward(Act::GeluTanh, f32a, f32b); }},
      {"gelu_tanh bwd fp32", 12, [&] { be.activation_backward(Act::GeluTanh, f32a, dy32, f32b); }},
      {"adamw step fp32 (p,g,m,v)", 28, [&] { be.adamw_step(f32b, f32a, m, v, h, Rounding{}); }},
  };
  for (Row& r : rows) r.reps = reps_for(r.f, 0.05);
  for (int pass = 0; pass < passes; ++pass)
    for (Row& r : rows)
      for (int round = 0; round < 3; ++round) r.t = std::min(r.t, time_round(r.f, r.reps));
  std::printf("\nElementwise over %lld elements, GB/s (bytes read + written)\n", (long long)n);
  std::printf("%-28s %10s %10s\n", "op", "GB/s", "vs copy");
  const double copy_gbs = rows[0].bytes_per_elem * double(n) / rows[0].t * 1e-9;
  for (const Row& r : rows) {
    const double gbs = r.bytes_per_elem * double(n) / r.t * 1e-9;
    std::printf("%-28s %10.1f %9.0f%%\n", r.name, gbs, 100.0 * gbs / copy_gbs);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 0;
  auto be = make_cpu_backend(threads);
  std::printf("%s\n", be->name().c_str());
  // Other processes share this machine; the load average says how much the figures may suffer.
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    double l1 = 0;
    if (std::fscanf(f, "%lf", &l1) == 1) std::printf("load average (1 min) at start: %.2f\n", l1);
    std::fclose(f);
  }
  const int passes = argc > 2 ? std::max(1, std::atoi(argv[2])) : 4;
  gemm_table(*be, passes);
  elementwise_table(*be, passes);
  return 0;
}
