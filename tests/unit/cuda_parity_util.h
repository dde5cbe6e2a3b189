// cuda_parity_util.h: helpers of the CUDA parity tests (backend_cuda_parity.cpp,
// optim_cuda_parity.cpp): the skip rule (no CUDA device -> print "SKIPPED: no CUDA device" and
// exit 77, which ctest reports as skipped via SKIP_RETURN_CODE), one CPU and one CUDA backend,
// the same host inputs on both, and comparisons: bit-exact (raw bytes) and within k units of
// roundoff of the output dtype relative to a magnitude.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace mp::cuda_test {

// MPTRAIN_CUDA_PARITY_SELFTEST=1 runs the suite with a second CPU backend standing in for the
// GPU: a check of the suite itself (its references, tolerances, edge cases) on machines without
// one. CUDA-only cases return early. Never a substitute for the real run.
inline bool selftest() {
  const char* e = std::getenv("MPTRAIN_CUDA_PARITY_SELFTEST");
  return e && e[0] == '1';
}

// Runs before doctest's main (static initialisation of the including test file).
inline int skip_without_gpu() {
  if (selftest()) {
    std::printf("SELFTEST: a second CPU backend stands in for the GPU\n");
    return 0;
  }
  if (cuda_device_count() == 0) {
    std::printf("SKIPPED: no CUDA device\n");
    std::fflush(stdout);
    std::exit(77);
  }
  return 0;
}

inline Backend& cpu() {
  static std::unique_ptr<Backend> be = make_cpu_backend(2);
  return *be;
}

inline Backend& gpu() {
  static std::unique_ptr<Backend> be = selftest() ? make_cpu_backend(1) : make_cuda_backend(0);
  return *be;
}

// Unit roundoff of a float dtype: half an ulp at 1.
inline double unit_roundoff(DType dt) {
  switch (dt) {
    case DType::F16: return std::ldexp(1.0, -11);
    case DType::BF16: return std::ldexp(1.0, -8);
    default: return std::ldexp(1.0, -24);
  }
}

inline float round_dt(float x, DType dt) {
  return dt == DType::BF16 ? round_to<bfloat16>(x) : dt == DType::F16 ? round_to<half>(x) : x;
}

// n values uniform in [lo, hi), each exactly representable in dt (so every cast is exact).
inline std::vector<float> rnd(size_t n, float lo, float hi, uint32_t seed, DType dt = DType::F32) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = round_dt(u(rng), dt);
  return v;
}

inline Tensor make(Backend& be, const std::vector<float>& v, const Shape& s, DType dt) {
  return from_host_floats(be, v, s, dt);
}

// The same values as a tensor on each backend.
struct Pair {
  Tensor c, g;
};
inline Pair pair(const std::vector<float>& v, const Shape& s, DType dt) {
  return {make(cpu(), v, s, dt), make(gpu(), v, s, dt)};
}
inline Pair pair_empty(const Shape& s, DType dt) {
  return {cpu().empty(s, dt), gpu().empty(s, dt)};
}
inline Pair pair_i32(const std::vector<int32_t>& v) {
  Pair p{cpu().empty({int64_t(v.size())}, DType::I32),
         gpu().empty({int64_t(v.size())}, DType::I32)};
  cpu().upload(v.data(), p.c);
  gpu().upload(v.data(), p.g);
  return p;
}

inline std::vector<uint8_t> bytes(Backend& be, const Tensor& t) {
  std::vector<uint8_t> b(t.nbytes());
  be.download(t, b.data());
  return b;
}
inline std::vector<float> floats(Backend& be, const Tensor& t) { return to_host_floats(be, t); }

// Bit-for-bit equality of the two tensors' storage.
inline void check_bits(const Pair& p, const std::string& what) {
  const std::vector<uint8_t> a = bytes(cpu(), p.c), b = bytes(gpu(), p.g);
  REQUIRE(a.size() == b.size());
  const size_t es = dtype_size(p.c.dtype());
  for (size_t i = 0; i < a.size(); i += es)
    if (std::memcmp(&a[i], &b[i], es) != 0) {
      FAIL_CHECK(what << ": element " << i / es << " differs (cpu " << floats(cpu(), p.c)[i / es]
                      << ", cuda " << floats(gpu(), p.g)[i / es] << ")");
      return;
    }
}

// |cpu - cuda| <= k * u(dt) * (|cpu| + |cuda|) + abs for every element (NaNs must match, infs
// must be equal). k counts units of roundoff of the output dtype: 2 is one ulp.
inline void check_close_vals(const std::vector<float>& a, const std::vector<float>& b, DType dt,
                             double k, double abs, const std::string& what) {
  REQUIRE(a.size() == b.size());
  const double u = unit_roundoff(dt);
  for (size_t i = 0; i < a.size(); ++i) {
    const double x = a[i], y = b[i];
    if (std::isnan(x) || std::isnan(y)) {
      if (std::isnan(x) != std::isnan(y)) {
        FAIL_CHECK(what << ": element " << i << ": cpu " << x << ", cuda " << y);
        return;
      }
      continue;
    }
    if (std::isinf(x) || std::isinf(y)) {
      if (x != y) {
        FAIL_CHECK(what << ": element " << i << ": cpu " << x << ", cuda " << y);
        return;
      }
      continue;
    }
    const double tol = k * u * (std::fabs(x) + std::fabs(y)) + abs;
    if (!(std::fabs(x - y) <= tol)) {
      FAIL_CHECK(what << ": element " << i << ": cpu " << x << ", cuda " << y << " (diff "
                      << std::fabs(x - y) << ", tol " << tol << ")");
      return;
    }
  }
}

inline void check_close(const Pair& p, double k, double abs, const std::string& what) {
  check_close_vals(floats(cpu(), p.c), floats(gpu(), p.g), p.c.dtype(), k, abs, what);
}

inline const DType kFloatTypes[] = {DType::F32, DType::F16, DType::BF16};
inline std::string name(DType dt) { return std::string(dtype_name(dt)); }

}  // namespace mp::cuda_test
