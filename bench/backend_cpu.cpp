// backend_cpu.cpp (bench_backend_cpu): CPU backend throughput against references measured in the
// same run. GEMM GFLOP/s per dtype through Backend::gemm vs a raw oneDNN matmul primitive on the
// same shapes (fp16, which oneDNN cannot run on this CPU, is compared with the raw fp32 matmul it
// is emulated on); elementwise GB/s (casts, relu forward/backward, AdamW) vs the backend's own
// parallel fp32 copy. Best of several interleaved rounds. Usage: bench_backend_cpu [threads]
// (0 or absent: OMP_NUM_THREADS or all cores).
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

// Seconds per call of f: calls are batched into rounds of ~0.15 s; best round of `rounds`.
double time_per_call(const std::function<void()>& f, int rounds = 5) {
  f();  // warm-up (primitive creation, first touch)
  double t0 = now();
  f();
  const double once = std::max(now() - t0, 1e-6);
  const int reps = std::max(1, int(0.15 / once));
  double best = 1e300;
  for (int r = 0; r < rounds; ++r) {
    t0 = now();
    for (int i = 0; i < reps; ++i) f();
    best = std::min(best, (now() - t0) / reps);
  }
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
      double tb = 1e300, tr = 1e300;
      for (int round = 0; round < 2; ++round) {  // interleave to share the machine's noise
        tb = std::min(tb, time_per_call([&] { be.gemm(false, false, 1.0f, A, B, 0.0f, C); }, 3));
        tr = std::min(tr, time_per_call([&] { raw.run(); }, 3));
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
  gemm_table(*be);
  elementwise_table(*be);
  return 0;
}
