// finite_scan.cpp: a branch-free OR over "exponent all ones" per block (an AND, a compare and an
// OR per 4 floats even with plain SSE2), and an element loop only in a block that holds a
// non-finite value.
#include "data/finite_scan.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace mp {

namespace {
constexpr uint32_t kExpMask = 0x7f800000u;  // exponent all ones: Inf or NaN
constexpr size_t kBlock = 4096;             // floats per block: early exit without a branch per value
}  // namespace

int64_t first_nonfinite(const float* p, size_t n) {
  for (size_t b = 0; b < n; b += kBlock) {
    const size_t e = std::min(n, b + kBlock);
    uint32_t bad = 0;
    for (size_t i = b; i < e; ++i) {
      uint32_t u;
      std::memcpy(&u, p + i, sizeof u);
      bad |= static_cast<uint32_t>((u & kExpMask) == kExpMask);
    }
    if (bad == 0) continue;
    for (size_t i = b; i < e; ++i)
      if (!std::isfinite(p[i])) return static_cast<int64_t>(i);
  }
  return -1;
}

std::string nonfinite_name(float v) { return std::isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf"); }

}  // namespace mp
