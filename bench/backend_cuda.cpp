// backend_cuda.cpp (bench_backend_cuda): CUDA backend throughput against references measured in the
// same run. GEMM TFLOP/s per dtype (fp32, fp32 with TF32, bf16, fp16; square n^3) through
// Backend::gemm vs a raw cublasLtMatmul on the same buffers and dtypes (its heuristic's first
// algorithm, the same 32 MiB workspace); elementwise and row-wise GB/s (cast, GELU, AdamW,
// layernorm, softmax cross-entropy up to a 50257 vocabulary, the fused residual add + layernorm
// against the two ops, bias_grad, an add on unaligned views) vs the backend's own
// device-to-device copy.
// Best of several rounds. Without a CUDA device (or a build without CUDA) it says so and exits 0.
// Usage: bench_backend_cuda [max_n]   (largest GEMM size, default 8192)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_options.h"

#if defined(MPTRAIN_HAVE_CUDA)
#include <cublasLt.h>
#include <cuda_runtime_api.h>
#endif

using namespace mp;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Best seconds per call of f over `rounds` rounds of about `round_s` each; sync() ends a round.
double best_time(const std::function<void()>& f, const std::function<void()>& sync, int rounds = 3,
                 double round_s = 0.15) {
  f();
  sync();
  double t0 = now();
  f();
  sync();
  const int reps = std::max(1, int(round_s / std::max(now() - t0, 1e-6)));
  double best = 1e300;
  for (int r = 0; r < rounds; ++r) {
    t0 = now();
    for (int i = 0; i < reps; ++i) f();
    sync();
    best = std::min(best, (now() - t0) / reps);
  }
  return best;
}

#if defined(MPTRAIN_HAVE_CUDA)
#define BENCH_CHECK(call)                                                            \
  do {                                                                               \
    const auto st_ = (call);                                                         \
    if (static_cast<int>(st_) != 0) {                                                \
      std::fprintf(stderr, "bench_backend_cuda: %s failed (%d)\n", #call, int(st_)); \
      std::exit(1);                                                                  \
    }                                                                                \
  } while (0)

// A plain column-major C[n,n] = A B with cuBLASLt, on its own stream.
struct RawLt {
  cublasLtHandle_t h = nullptr;
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lc = nullptr;
  cublasLtMatmulAlgo_t algo{};
  void* ws = nullptr;
  size_t ws_bytes = size_t(32) << 20;
  cudaStream_t s = nullptr;
  bool ok = false;
  RawLt(int64_t n, cudaDataType_t ab, cudaDataType_t c, cublasComputeType_t ct) {
    BENCH_CHECK(cublasLtCreate(&h));
    BENCH_CHECK(cudaStreamCreate(&s));
    BENCH_CHECK(cudaMalloc(&ws, ws_bytes));
    BENCH_CHECK(cublasLtMatmulDescCreate(&op, ct, CUDA_R_32F));
    BENCH_CHECK(cublasLtMatrixLayoutCreate(&la, ab, uint64_t(n), uint64_t(n), n));
    BENCH_CHECK(cublasLtMatrixLayoutCreate(&lc, c, uint64_t(n), uint64_t(n), n));
    cublasLtMatmulPreference_t pref = nullptr;
    BENCH_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const uint64_t w = ws_bytes;
    BENCH_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                     &w, sizeof(w)));
    cublasLtMatmulHeuristicResult_t res{};
    int found = 0;
    ok = cublasLtMatmulAlgoGetHeuristic(h, op, la, la, lc, lc, pref, 1, &res, &found) ==
             CUBLAS_STATUS_SUCCESS &&
         found > 0;
    algo = res.algo;
    cublasLtMatmulPreferenceDestroy(pref);
  }
  ~RawLt() {
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatmulDescDestroy(op);
    cudaFree(ws);
    cudaStreamDestroy(s);
    cublasLtDestroy(h);
  }
  void run(const void* a, const void* b, void* c) {
    const float one = 1.0f, zero = 0.0f;
    BENCH_CHECK(
        cublasLtMatmul(h, op, &one, a, la, b, la, &zero, c, lc, c, lc, &algo, ws, ws_bytes, s));
  }
  void sync() { BENCH_CHECK(cudaStreamSynchronize(s)); }
};

cudaDataType_t cuda_type(DType t) {
  return t == DType::F32 ? CUDA_R_32F : t == DType::F16 ? CUDA_R_16F : CUDA_R_16BF;
}
#endif

void gemm_table(Backend& be, int64_t max_n) {
  std::printf("\nGEMM C[n,n] = A[n,n] B[n,n] (fp32 accumulation), TFLOP/s, best of 3 rounds\n");
  std::printf("%-10s %6s %12s %12s %10s\n", "dtype", "n", "backend", "raw cuBLASLt", "ratio");
  struct Row {
    DType dt;
    bool tf32;
    const char* name;
  };
  const Row rows[] = {{DType::F32, false, "fp32"},
                      {DType::F32, true, "fp32+tf32"},
                      {DType::BF16, false, "bf16"},
                      {DType::F16, false, "fp16"}};
  for (const Row& r : rows)
    for (int64_t n = 1024; n <= max_n; n *= 2) {
      Tensor A = be.empty({n, n}, r.dt), B = be.empty({n, n}, r.dt), C = be.empty({n, n}, r.dt);
      be.random_uniform(A, -1, 1, 1, 0);
      be.random_uniform(B, -1, 1, 2, 0);
      be.fill(C, 0.0f);
      set_allow_tf32(be, r.tf32);
      const double tb =
          best_time([&] { be.gemm(false, false, 1.0f, A, B, 0.0f, C); }, [&] { be.synchronize(); });
      set_allow_tf32(be, false);
      double tr = 0;
#if defined(MPTRAIN_HAVE_CUDA)
      RawLt raw(n, cuda_type(r.dt), cuda_type(r.dt),
                r.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F);
      if (raw.ok) tr = best_time([&] { raw.run(B.raw(), A.raw(), C.raw()); }, [&] { raw.sync(); });
#endif
      const double flop = 2.0 * double(n) * double(n) * double(n);
      std::printf("%-10s %6lld %12.1f %12.1f %9.2fx\n", r.name, static_cast<long long>(n),
                  flop / tb / 1e12, tr > 0 ? flop / tr / 1e12 : 0.0, tr > 0 ? tr / tb : 0.0);
      std::fflush(stdout);
    }
}

void elementwise_table(Backend& be) {
  const int64_t n = int64_t(1) << 26;  // 64 Mi elements
  std::printf("\nElementwise / row-wise, GB/s of compulsory traffic, best of 3 rounds\n");
  std::printf("%-34s %10s %10s\n", "op", "GB/s", "vs copy");
  Tensor a32 = be.empty({n}, DType::F32), b32 = be.empty({n}, DType::F32);
  Tensor m = be.empty({n}, DType::F32), v = be.empty({n}, DType::F32);
  Tensor a16 = be.empty({n}, DType::BF16), b16 = be.empty({n}, DType::BF16);
  be.random_uniform(a32, -1, 1, 3, 0);
  be.random_uniform(b32, -1, 1, 4, 0);
  be.fill(m, 0.0f);
  be.fill(v, 0.0f);
  be.cast(a32, a16);
  auto sync = [&] { be.synchronize(); };
  const double t_copy = best_time([&] { be.copy(a32, b32); }, sync);
  const double copy_gbs = 8.0 * double(n) / t_copy / 1e9;
  auto row = [&](const char* name, double bytes, const std::function<void()>& f) {
    const double t = best_time(f, sync);
    const double gbs = bytes / t / 1e9;
    std::printf("%-34s %10.0f %9.2fx\n", name, gbs, gbs / copy_gbs);
    std::fflush(stdout);
  };
  std::printf("%-34s %10.0f %9.2fx\n", "copy fp32 (reference)", copy_gbs, 1.0);
  row("cast fp32 -> bf16", 6.0 * double(n), [&] { be.cast(a32, a16); });
  row("gelu forward bf16", 4.0 * double(n),
      [&] { be.activation_forward(Act::GeluTanh, a16, b16); });
  row("gelu backward bf16", 6.0 * double(n),
      [&] { be.activation_backward(Act::GeluTanh, a16, b16, b16); });
  AdamWHyper h;
  row("adamw fp32 (p, g, m, v)", 28.0 * double(n),
      [&] { be.adamw_step(a32, b32, m, v, h, Rounding{}); });
  row("sum_squares fp32", 4.0 * double(n), [&] { (void)be.sum_squares(a32); });
  const int64_t rows = 16384, cols = 4096;  // 64 Mi elements as rows
  Tensor x = a16.reshape({rows, cols}), y = b16.reshape({rows, cols});
  Tensor g = be.empty({cols}, DType::BF16), bt = be.empty({cols}, DType::BF16);
  be.fill(g, 1.0f);
  be.fill(bt, 0.0f);
  Tensor mean = be.empty({rows}, DType::F32), rstd = be.empty({rows}, DType::F32);
  row("layernorm forward bf16 [16384,4096]", 4.0 * double(n),
      [&] { be.layernorm_forward(x, g, bt, 1e-5f, y, mean, rstd); });
  Tensor db = be.empty({cols}, DType::F32);
  row("bias_grad bf16 [16384,4096]", 2.0 * double(n), [&] { be.bias_grad(x, db, 0.0f); });
  const int64_t xr = 65536, xc = 1000;
  Tensor logits = a16.flat_range(0, xr * xc).reshape({xr, xc});
  Tensor dl = b16.flat_range(0, xr * xc).reshape({xr, xc});
  Tensor labels = be.empty({xr}, DType::I32), losses = be.empty({xr}, DType::F32);
  std::vector<int32_t> lab(static_cast<size_t>(xr));
  for (int64_t i = 0; i < xr; ++i) lab[size_t(i)] = int32_t((i * 7919) % xc);
  be.upload(lab.data(), labels);
  row("softmax_xent bf16 [65536,1000]", 4.0 * double(xr * xc),
      [&] { be.softmax_xent(logits, labels, -100, 1.0f, losses, &dl); });
  // Issue 12: a GPT-2 vocabulary (one block per row), the residual add fused with layernorm
  // against the two ops, and an elementwise op on views that start off a 16-byte boundary.
  const int64_t vr = 1280, vc = 50257;
  Tensor vlogits = a16.flat_range(0, vr * vc).reshape({vr, vc});
  Tensor vdl = b16.flat_range(0, vr * vc).reshape({vr, vc});
  Tensor vlabels = labels.flat_range(0, vr), vlosses = losses.flat_range(0, vr);
  row("softmax_xent bf16 [1280,50257]", 4.0 * double(vr * vc),
      [&] { be.softmax_xent(vlogits, vlabels, -100, 1.0f, vlosses, &vdl); });
  Tensor c16 = be.empty({rows, cols}, DType::BF16), s16 = be.empty({rows, cols}, DType::BF16);
  be.cast(b32, b16);
  Tensor r16 = b16.reshape({rows, cols});
  // Both rows count the fused op's compulsory traffic (read a, b; write sum, y): 8 bytes/element.
  row("add+layernorm fused bf16 [16384,4096]", 8.0 * double(n),
      [&] { be.add_layernorm_forward(x, r16, g, bt, 1e-5f, s16, c16, mean, rstd); });
  row("add, then layernorm bf16 (same bytes)", 8.0 * double(n), [&] {
    be.add(x, r16, s16);
    be.layernorm_forward(s16, g, bt, 1e-5f, c16, mean, rstd);
  });
  Tensor av = a16.flat_range(1, n - 1), bv = c16.reshape({n}).flat_range(1, n - 1),
         ov = s16.reshape({n}).flat_range(1, n - 1);
  row("add bf16, views at element 1", 6.0 * double(n - 1), [&] { be.add(av, bv, ov); });
}

}  // namespace

int main(int argc, char** argv) {
  if (cuda_device_count() == 0) {
    std::printf(
        "bench_backend_cuda: no CUDA device (or no CUDA backend in this build): nothing to "
        "measure\n");
    return 0;
  }
  const int64_t max_n = argc > 1 ? std::atoll(argv[1]) : 8192;
  auto be = make_cuda_backend(0);
  std::printf("bench_backend_cuda on %s\n", be->name().c_str());
  gemm_table(*be, max_n);
  elementwise_table(*be);
  std::printf("\npeak tensor memory: %.1f MiB\n", double(be->peak_memory_bytes()) / (1 << 20));
  return 0;
}
