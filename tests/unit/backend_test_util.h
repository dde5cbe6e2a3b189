// backend_test_util.h: helpers shared by the backend_*.cpp unit tests: one CPU backend, host
// round trips, random inputs exactly representable in a dtype, an independent fp64 reference of
// round-to-nearest-even to fp16/bf16 (frexp/nearbyint, not core/half.h), and unit roundoffs.
#pragma once
#include <cfenv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "backend/backend.h"

namespace mp::test {

inline Backend& cpu_be() {
  static std::unique_ptr<Backend> be = make_cpu_backend(2);
  return *be;
}

inline Tensor make(Backend& be, const std::vector<float>& v, const Shape& s, DType dt) {
  return from_host_floats(be, v, s, dt);
}
inline std::vector<float> get(Backend& be, const Tensor& t) { return to_host_floats(be, t); }

// Unit roundoff of a float dtype: half an ulp at 1.
inline double unit_roundoff(DType dt) {
  switch (dt) {
    case DType::F16: return std::ldexp(1.0, -11);
    case DType::BF16: return std::ldexp(1.0, -8);
    default: return std::ldexp(1.0, -24);
  }
}

// Round-to-nearest-even of x to a binary format with `p` significand bits, smallest normal
// exponent emin (frexp convention, value = f * 2^e with f in [0.5, 1)) and largest finite `max`.
// Independent of core/half.h: it works in double with the FPU's nearest-even mode.
inline double rne_reference(double x, int p, int emin, double max) {
  if (std::isnan(x) || std::isinf(x) || x == 0.0) return x;
  int e;
  std::frexp(x, &e);
  const int q = std::max(e, emin) - p;  // quantum exponent
  const double r = std::nearbyint(std::ldexp(x, -q));
  const double y = std::ldexp(r, q);
  if (std::fabs(y) > max) return std::copysign(std::numeric_limits<double>::infinity(), x);
  return y;
}

// x (exactly a float, or a double) rounded to the precision of dt.
inline double round_ref(double x, DType dt) {
  switch (dt) {
    case DType::F16: return rne_reference(x, 11, -13, 65504.0);
    case DType::BF16: return rne_reference(x, 8, -125, 3.3895313892515355e38);
    default: return rne_reference(x, 24, -125, 3.4028234663852886e38);
  }
}

inline std::vector<float> random_floats(size_t n, float lo, float hi, uint32_t seed, DType dt) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(round_ref(u(rng), dt));
  return v;
}

inline uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline const DType kFloatTypes[] = {DType::F32, DType::F16, DType::BF16};

}  // namespace mp::test
