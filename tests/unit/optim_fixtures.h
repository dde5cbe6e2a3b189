// optim_fixtures.h: helpers shared by the optim_* tests: a small owned set of Parameters on a
// backend, synthetic gradients, and host copies for bit-exact comparisons.
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "nn/parameter.h"

namespace mp::testing {

struct ParamSet {
  std::vector<std::unique_ptr<Parameter>> owned;
  ParamList list;

  // A parameter with fp32 values `init`, working copy in `working` (master fp32 or not).
  Parameter& add(Backend& be, const std::string& name, const Shape& shape, DType working,
                 bool master_fp32, bool decay, const std::vector<float>& init) {
    owned.push_back(std::make_unique<Parameter>(
        make_parameter(be, name, shape, working, master_fp32, decay)));
    Parameter& p = *owned.back();
    set_parameter_values(be, p, from_host_floats(be, init, shape, DType::F32));
    list.push_back(&p);
    return p;
  }
};

// Deterministic values in [-amp, amp), a function of (seed, n) only.
inline std::vector<float> synthetic(uint64_t seed, size_t n, float amp = 1.0f) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 12345);
  std::uniform_real_distribution<float> u(-amp, amp);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// Set every parameter's fp32 grad to synthetic values for `step`, multiplied by `scale` in fp32
// (a power-of-two scale keeps the values exact).
inline void set_synthetic_grads(Backend& be, const ParamList& params, uint64_t step, float scale,
                                float amp = 0.5f) {
  for (size_t i = 0; i < params.size(); ++i) {
    Parameter& p = *params[i];
    std::vector<float> g = synthetic(step * 1000 + i, static_cast<size_t>(p.grad.numel()), amp);
    for (float& x : g) x *= scale;
    be.upload(g.data(), p.grad);
  }
}

inline std::vector<uint32_t> bits_of(const std::vector<float>& v) {
  std::vector<uint32_t> b(v.size());
  std::memcpy(b.data(), v.data(), v.size() * 4);
  return b;
}

// Raw bits of every master and working tensor (as fp32 values), for bit-exact comparisons.
inline std::vector<uint32_t> snapshot(Backend& be, const ParamList& params) {
  std::vector<uint32_t> all;
  for (const Parameter* p : params) {
    for (const Tensor* t : {&p->master, &p->working}) {
      const std::vector<uint32_t> b = bits_of(to_host_floats(be, *t));
      all.insert(all.end(), b.begin(), b.end());
    }
  }
  return all;
}

}  // namespace mp::testing
