// backend_cpu.cpp (bench_backend_cpu): CPU backend throughput against references measured in the
// same run. GEMM GFLOP/s per dtype through Backend::gemm vs a raw oneDNN matmul primitive on the
// same shapes (fp16, which oneDNN cannot run on this CPU, is compared with the raw fp32 matmul it
// is emulated on); elementwise GB/s (casts, relu and GELU forward/backward, AdamW) vs the
// backend's own parallel fp32 copy. Best of several rounds (GEMM rounds alternate backend and
// raw). Usage: bench_backend_cpu [threads] (0 or absent: OMP_NUM_THREADS or all cores).
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dnnl.hpp>
#include <functional>
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

// Seconds per call of f: best of `rounds` rounds of ~round_s each. On a shared machine the best
// round is the one least disturbed by other processes.
double time_per_call(const std::function<void()>& f, int rounds = 6, double round_s = 0.1) {
  const int reps = reps_for(f, round_s);
  double best = 1e300;
  for (int r = 0; r < rounds; ++r) best = std::min(best, time_round(f, reps));
  return best;
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

void gemm_table(Backend& be) {
  std::printf("\nGEMM C[n,n] = A[n,n] B[n,n] (no transposes, alpha 1, beta 0), GFLOP/s\n");
  std::printf("%-6s %6s %14s %14s %8s   %s\n", "dtype", "n", "backend", "raw oneDNN", "ratio", "raw reference");
  for (DType dt : {DType::F32, DType::BF16, DType::F16})
    for (int64_t n : {256, 512, 1024, 2048}) {
      Tensor A = be.empty({n, n}, dt), B = be.empty({n, n}, dt), C = be.empty({n, n}, dt);
      be.random_uniform(A, -1, 1, 1, 0);
      be.random_uniform(B, -1, 1, 2, 0);
      // raw reference: same dtype primitive (fp16: the fp32 matmul the backend runs after converting)
      const bool f16 = dt == DType::F16;
      Tensor Ar = f16 ? be.empty({n, n}, DType::F32) : A, Br = f16 ? be.empty({n, n}, DType::F32) : B;
      Tensor Cr = be.empty({n, n}, f16 ? DType::F32 : dt);
      if (f16) {
        be.cast(A, Ar);
        be.cast(B, Br);
      }
      const auto ddt = dt == DType::BF16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
      RawMatmul raw(n, ddt, ddt, Ar.raw(), Br.raw(), Cr.raw());
      // Rounds alternate between the two so both see the same machine conditions.
      const std::function<void()> fb = [&] { be.gemm(false, false, 1.0f, A, B, 0.0f, C); };
      const std::function<void()> fr = [&] { raw.run(); };
      const int rb = reps_for(fb, 0.06), rr = reps_for(fr, 0.06);
      double tb = 1e300, tr = 1e300;
      for (int round = 0; round < 8; ++round) {
        tb = std::min(tb, time_round(fb, rb));
        tr = std::min(tr, time_round(fr, rr));
      }
      const double flop = 2.0 * double(n) * double(n) * double(n);
      std::printf("%-6s %6lld %14.1f %14.1f %7.1f%%   %s\n", std::string(dtype_name(dt)).c_str(),
                  (long long)n, flop / tb * 1e-9, flop / tr * 1e-9, 100.0 * tr / tb,
                  f16 ? "fp32 matmul (fp16 is emulated)" : "same dtype");
    }
}

void elementwise_table(Backend& be) {
  const int64_t n = int64_t(1) << 24;  // 16 Mi elements: far beyond cache
  std::printf("\nElementwise over %lld elements, GB/s (bytes read + written)\n", (long long)n);
  std::printf("%-28s %10s %10s\n", "op", "GB/s", "vs copy");
  Tensor f32a = be.empty({n}, DType::F32), f32b = be.empty({n}, DType::F32);
  Tensor f16 = be.empty({n}, DType::F16), bf16 = be.empty({n}, DType::BF16), bf16b = be.empty({n}, DType::BF16);
  Tensor m = be.empty({n}, DType::F32), v = be.empty({n}, DType::F32);
  be.random_uniform(f32a, -1, 1, 3, 0);
  be.cast(f32a, f16);
  be.cast(f32a, bf16);
  be.fill(m, 0.0f);
  be.fill(v, 0.0f);
  struct Row {
    const char* name;
    double bytes_per_elem;
    std::function<void()> f;
  };
  AdamWHyper h;
  const std::vector<Row> rows = {
      {"copy fp32 (reference)", 8, [&] { be.copy(f32a, f32b); }},
      {"cast fp32 -> bf16", 6, [&] { be.cast(f32a, bf16b); }},
      {"cast bf16 -> fp32", 6, [&] { be.cast(bf16, f32b); }},
      {"cast fp32 -> fp16", 6, [&] { be.cast(f32a, f16); }},
      {"cast fp16 -> fp32", 6, [&] { be.cast(f16, f32b); }},
      {"relu fwd fp32", 8, [&] { be.activation_forward(Act::Relu, f32a, f32b); }},
      {"relu fwd bf16", 4, [&] { be.activation_forward(Act::Relu, bf16, bf16b); }},
      {"relu bwd fp32", 12, [&] { be.activation_backward(Act::Relu, f32a, f32a, f32b); }},
      {"relu bwd bf16", 6, [&] { be.activation_backward(Act::Relu, bf16, bf16, bf16b); }},
      {"gelu_tanh fwd fp32", 8, [&] { be.activation_forward(Act::GeluTanh, f32a, f32b); }},
      {"gelu_tanh bwd fp32", 12, [&] { be.activation_backward(Act::GeluTanh, f32a, f32a, f32b); }},
      {"adamw step fp32 (p,g,m,v)", 28, [&] { be.adamw_step(f32b, f32a, m, v, h, Rounding{}); }},
  };
  double copy_gbs = 0;
  for (const Row& r : rows) {
    const double t = time_per_call(r.f);
    const double gbs = r.bytes_per_elem * double(n) / t * 1e-9;
    if (copy_gbs == 0) copy_gbs = gbs;
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
  gemm_table(*be);
  elementwise_table(*be);
  return 0;
}
