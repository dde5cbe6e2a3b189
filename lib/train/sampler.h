// sampler.h: picking the next token from a row of logits for `mptrain sample` — temperature and
// top-k, driven by a counter-based RNG (Philox keyed on the seed, the step as counter), so the
// same seed gives the same text on any machine and any restart.
//   temperature <= 0 or top_k == 1: greedy (argmax; the lowest id among equal maxima);
//   otherwise: keep the top_k largest logits (0 = all; ties broken towards the lower id), take
//   p = softmax(logit / temperature) over them in fp64, and draw by inverse CDF with one uniform.
#pragma once
#include <cstdint>
#include <vector>

namespace mp {

struct SamplerOptions {
  double temperature = 1.0;  // <= 0: greedy
  int64_t top_k = 0;         // 0: every token; 1: greedy
  uint64_t seed = 0;
};

// The distribution sample_token draws from (length v, zeros outside the top k); greedy settings
// give a one-hot row. Throws std::invalid_argument when v < 1, top_k < 0 or a logit is NaN.
std::vector<double> sampling_distribution(const float* logits, int64_t v, double temperature,
                                          int64_t top_k);

// The uniform in [0, 1) that draw `step` of `seed` uses (53 bits).
double sampler_uniform(uint64_t seed, uint64_t step);

// The token id drawn at generation step `step` (0, 1, 2, ...).
int64_t sample_token(const float* logits, int64_t v, const SamplerOptions& opt, uint64_t step);

}  // namespace mp
