// backend_memory.cpp: CPU backend memory (64-byte alignment, live/peak counters), host copies,
// views, random_uniform/normal moments and reproducibility, name and thread count.
#include <doctest/doctest.h>

#include <omp.h>

#include <cstdlib>

#include "backend/cpu/cpu_backend.h"
#include "kernels/random.h"
#include "unit/backend_test_util.h"

using namespace mp;
using namespace mp::test;

TEST_CASE("memory: aligned tensors, live bytes and the peak high-water mark") {
  cpu::CpuBackend be(1);
  CHECK(be.peak_memory_bytes() == 0);
  {
    Tensor a = be.empty({1000}, DType::F32);
    CHECK(reinterpret_cast<uintptr_t>(a.raw()) % 64 == 0);
    CHECK(be.live_memory_bytes() == 4000);
    {
      Tensor b = be.empty({3, 250}, DType::BF16);
      CHECK(reinterpret_cast<uintptr_t>(b.raw()) % 64 == 0);
      CHECK(be.live_memory_bytes() == 5500);
      Tensor view = b.slice_rows(1, 2);  // a view allocates nothing
      CHECK(be.live_memory_bytes() == 5500);
    }
    CHECK(be.live_memory_bytes() == 4000);
    CHECK(be.peak_memory_bytes() == 5500);
    Tensor c = be.empty({100}, DType::F16);
    CHECK(be.peak_memory_bytes() == 5500);
  }
  CHECK(be.live_memory_bytes() == 0);
  CHECK(be.peak_memory_bytes() == 5500);
  Tensor z = be.empty({0}, DType::F32);  // zero-sized tensors are fine
  CHECK(z.numel() == 0);
}

TEST_CASE("memory: tensors may outlive their backend") {
  Tensor keep;
  {
    auto be = make_cpu_backend(1);
    keep = be->empty({16}, DType::F32);
    be->fill(keep, 2.0f);
  }
  CHECK(static_cast<float*>(keep.raw())[15] == 2.0f);
}

TEST_CASE("upload, download, copy and copy between views") {
  Backend& be = cpu_be();
  std::vector<float> h(300);
  for (size_t i = 0; i < h.size(); ++i) h[i] = float(i) * 0.5f;
  Tensor t = be.empty({100, 3}, DType::F32), u = be.empty({100, 3}, DType::F32);
  be.upload(h.data(), t);
  be.copy(t, u);
  std::vector<float> back(300);
  be.download(u, back.data());
  CHECK(back == h);
  Tensor dst = u.slice_rows(0, 10);
  be.copy(t.slice_rows(90, 100), dst);
  be.download(u, back.data());
  CHECK(back[0] == h[270]);
  CHECK(back[29] == h[299]);
  CHECK(back[30] == h[30]);
}

TEST_CASE("random_uniform: values in (lo, hi], moments, reproducible, same numbers as the kernel") {
  Backend& be = cpu_be();
  const int64_t n = 200001;
  for (DType dt : kFloatTypes) {
    CAPTURE(dtype_name(dt));
    Tensor t = be.empty({n}, dt);
    be.random_uniform(t, -2.0f, 3.0f, 42, 7);
    const auto x = get(be, t);
    double s = 0, q = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float v = x[size_t(i)];
      REQUIRE((v >= -2.0f && v <= 3.0f));
      // the kernel's value up to fp32 contraction (the backend may fuse lo + (hi - lo) * u into an
      // FMA), then one rounding to dt
      const double want = kernels::uniform_element(42, 7, uint64_t(i), -2.0f, 3.0f);
      REQUIRE(std::fabs(v - want) <= unit_roundoff(dt) * std::fabs(want) + std::ldexp(1.0, -23) * 7);
      s += v;
      q += double(v) * v;
    }
    const double mean = s / n, var = q / n - mean * mean;
    CHECK(std::fabs(mean - 0.5) < 5 * std::sqrt(25.0 / 12 / n));
    CHECK(std::fabs(var - 25.0 / 12) < 0.02 * 25.0 / 12);
    Tensor t2 = be.empty({n}, dt);
    be.random_uniform(t2, -2.0f, 3.0f, 42, 7);
    CHECK(get(be, t2) == x);
    be.random_uniform(t2, -2.0f, 3.0f, 42, 8);
    CHECK(get(be, t2) != x);
  }
}

TEST_CASE("random_normal: mean, std and kurtosis, same numbers as the kernel") {
  Backend& be = cpu_be();
  const int64_t n = 200000;
  Tensor t = be.empty({n}, DType::F32);
  be.random_normal(t, 1.0f, 2.0f, 5, 0);
  const auto x = get(be, t);
  double s = 0, q = 0, k = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double want = kernels::normal_element(5, 0, uint64_t(i), 1.0f, 2.0f);
    REQUIRE(std::fabs(x[size_t(i)] - want) <= std::ldexp(1.0, -23) * (std::fabs(want) + 2));
    s += x[size_t(i)];
  }
  const double mean = s / n;
  for (float v : x) {
    q += (v - mean) * (v - mean);
    k += std::pow((v - mean) / 2.0, 4);
  }
  CHECK(std::fabs(mean - 1.0) < 5 * 2.0 / std::sqrt(double(n)));
  CHECK(std::fabs(std::sqrt(q / n) - 2.0) < 0.02);
  CHECK(std::fabs(k / n - 3.0) < 0.1);
}

TEST_CASE("name and thread count") {
  auto be = make_cpu_backend(3);
  CHECK(be->device() == Device::CPU);
  CHECK(be->name().find("oneDNN") != std::string::npos);
  CHECK(be->name().find("3 threads") != std::string::npos);
  // 0 = OMP_NUM_THREADS, else every core; not whatever an earlier backend set
  cpu::CpuBackend one(1);
  const char* old = std::getenv("OMP_NUM_THREADS");
  const std::string saved = old ? old : "";
  setenv("OMP_NUM_THREADS", "5", 1);
  CHECK(cpu::CpuBackend(0).threads() == 5);
  unsetenv("OMP_NUM_THREADS");
  CHECK(cpu::CpuBackend(0).threads() == omp_get_num_procs());
  if (old) setenv("OMP_NUM_THREADS", saved.c_str(), 1);
}
