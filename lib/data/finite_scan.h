// finite_scan.h: finding NaN/Inf in float buffers fast enough to run on every batch the loader
// builds (a batch of MNIST inputs, 128 x 784 floats, takes microseconds; numbers in README).
// Non-finite is tested on the exponent bits (all ones = Inf or NaN): exact, and immune to
// -ffast-math.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace mp {

// Index of the first NaN or Inf in p[0..n), or -1 when every value is finite.
int64_t first_nonfinite(const float* p, size_t n);

// "NaN", "+Inf" or "-Inf": how a non-finite value is named in messages.
std::string nonfinite_name(float v);

}  // namespace mp
