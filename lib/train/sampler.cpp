// sampler.cpp: temperature / top-k sampling over fp64 probabilities.
#include "train/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "core/philox.h"

namespace mp {

namespace {
// Mixed into the seed so sampling never shares a Philox stream with initialisation, dropout or
// the data order of a run with the same seed.
constexpr uint64_t kSamplerKey = 0x5A3D9E1C7B2F4861ull;

bool greedy(double temperature, int64_t top_k) { return !(temperature > 0) || top_k == 1; }

int64_t argmax(const float* logits, int64_t v) {
  return std::max_element(logits, logits + v) - logits;  // the first of equal maxima
}
}  // namespace

std::vector<double> sampling_distribution(const float* logits, int64_t v, double temperature,
                                          int64_t top_k) {
  if (v < 1) throw std::invalid_argument("sampler: expected at least one logit");
  if (top_k < 0) throw std::invalid_argument("sampler: top_k must be >= 0");
  for (int64_t i = 0; i < v; ++i)
    if (std::isnan(logits[i]))
      throw std::invalid_argument("sampler: logit " + std::to_string(i) + " is NaN");
  std::vector<double> p(static_cast<size_t>(v), 0.0);
  if (greedy(temperature, top_k)) {
    p[static_cast<size_t>(argmax(logits, v))] = 1.0;
    return p;
  }
  std::vector<int64_t> ids(static_cast<size_t>(v));
  std::iota(ids.begin(), ids.end(), 0);
  const int64_t k = top_k == 0 ? v : std::min(top_k, v);
  // The k largest, ties towards the lower id (a deterministic choice, whatever the sort does).
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int64_t a, int64_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  const double top = logits[ids[0]];
  double sum = 0.0;
  for (int64_t j = 0; j < k; ++j) {
    const int64_t i = ids[static_cast<size_t>(j)];
    // exp of (l - max) / T: the largest term is 1, so neither overflow nor an all-zero row.
    const double e = std::exp((static_cast<double>(logits[i]) - top) / temperature);
    p[static_cast<size_t>(i)] = e;
    sum += e;
  }
  for (double& x : p) x /= sum;
  return p;
}

double sampler_uniform(uint64_t seed, uint64_t step) {
  const uint64_t key = seed ^ kSamplerKey;
  const uint64_t bits = (static_cast<uint64_t>(philox_bits(key, step, 0)) << 32) | philox_bits(key, step, 1);
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

int64_t sample_token(const float* logits, int64_t v, const SamplerOptions& opt, uint64_t step) {
  const std::vector<double> p = sampling_distribution(logits, v, opt.temperature, opt.top_k);
  if (greedy(opt.temperature, opt.top_k)) return argmax(logits, v);
  const double u = sampler_uniform(opt.seed, step);
  double c = 0.0;
  int64_t last = 0;
  for (int64_t i = 0; i < v; ++i) {
    if (p[static_cast<size_t>(i)] == 0.0) continue;
    last = i;
    c += p[static_cast<size_t>(i)];
    if (u < c) return i;
  }
  return last;  // u within rounding of 1: the last token with any probability
}

}  // namespace mp
