// train_sampler.cpp: next-token sampling for `mptrain sample` — greedy settings are the argmax,
// a falling temperature tends to greedy, top-k keeps exactly k tokens, empirical frequencies of
// many seeded draws match the softmax (chi-square), and the same seed draws the same tokens.
#include "train/sampler.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <vector>

using namespace mp;

namespace {
const std::vector<float> kLogits = {0.5f, 2.0f, -1.0f, 1.0f, 2.0f - 1e-3f, 0.0f, -3.0f, 1.5f};
constexpr int64_t kV = 8;

// softmax(l / t) over the top k (0 = all) in fp64, computed here independently.
std::vector<double> reference(double t, int64_t k) {
  std::vector<double> p(kV, 0.0);
  std::vector<float> sorted = kLogits;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  const float cut = k == 0 ? sorted.back() : sorted[static_cast<size_t>(k - 1)];
  double sum = 0;
  for (int64_t i = 0; i < kV; ++i)
    if (kLogits[static_cast<size_t>(i)] >= cut) sum += p[static_cast<size_t>(i)] = std::exp(kLogits[static_cast<size_t>(i)] / t);
  for (double& x : p) x /= sum;
  return p;
}
}  // namespace

TEST_CASE("sampler: top-k 1 and temperature 0 are the argmax") {
  for (uint64_t step = 0; step < 50; ++step) {
    CHECK(sample_token(kLogits.data(), kV, {1.0, 1, 7}, step) == 1);
    CHECK(sample_token(kLogits.data(), kV, {0.0, 0, 7}, step) == 1);
  }
  const std::vector<float> tie = {1.0f, 3.0f, 3.0f};
  CHECK(sample_token(tie.data(), 3, {0.0, 0, 0}, 0) == 1);  // the lower id of equal maxima
  const std::vector<double> p = sampling_distribution(kLogits.data(), kV, 0.0, 0);
  CHECK(p[1] == 1.0);
}

TEST_CASE("sampler: the distribution is the softmax of the top k at temperature t") {
  for (double t : {0.5, 1.0, 2.0})
    for (int64_t k : {0, 2, 3, 8}) {
      CAPTURE(t);
      CAPTURE(k);
      const std::vector<double> p = sampling_distribution(kLogits.data(), kV, t, k);
      const std::vector<double> r = reference(t, k);
      int64_t nonzero = 0;
      for (int64_t i = 0; i < kV; ++i) {
        CHECK(p[static_cast<size_t>(i)] == doctest::Approx(r[static_cast<size_t>(i)]).epsilon(1e-12));
        nonzero += p[static_cast<size_t>(i)] > 0;
      }
      CHECK(nonzero == (k == 0 ? kV : k));
    }
}

TEST_CASE("sampler: as the temperature falls the draws approach greedy") {
  // Logits 2.0 and 2.0 - 1e-3 are close: at t = 1 token 4 is drawn often, at t = 1e-5 never.
  auto share_of_argmax = [&](double t) {
    int hits = 0;
    for (uint64_t s = 0; s < 2000; ++s) hits += sample_token(kLogits.data(), kV, {t, 0, 3}, s) == 1;
    return hits / 2000.0;
  };
  const double hot = share_of_argmax(1.0), warm = share_of_argmax(0.1), cold = share_of_argmax(1e-5);
  CHECK(hot < 0.4);
  CHECK(warm > hot);
  CHECK(cold == 1.0);
  CHECK(sampling_distribution(kLogits.data(), kV, 1e-5, 0)[1] == doctest::Approx(1.0));
}

TEST_CASE("sampler: frequencies over many seeded draws match the softmax (chi-square)") {
  for (int64_t k : {0, 3}) {
    CAPTURE(k);
    const double t = 0.8;
    const std::vector<double> p = reference(t, k);
    const int n = 40000;
    std::vector<int> count(kV, 0);
    for (int i = 0; i < n; ++i)
      ++count[static_cast<size_t>(sample_token(kLogits.data(), kV, {t, k, 11}, static_cast<uint64_t>(i)))];
    double chi2 = 0;
    int dof = -1;
    for (int64_t i = 0; i < kV; ++i) {
      if (p[static_cast<size_t>(i)] == 0) {
        CHECK(count[static_cast<size_t>(i)] == 0);  // outside the top k: never drawn
        continue;
      }
      const double e = n * p[static_cast<size_t>(i)];
      chi2 += (count[static_cast<size_t>(i)] - e) * (count[static_cast<size_t>(i)] - e) / e;
      ++dof;
    }
    // 99.9th percentile of chi-square: 24.3 for 7 degrees of freedom, 13.8 for 2.
    CHECK(chi2 < (dof == 7 ? 24.3 : 13.8));
  }
}

TEST_CASE("sampler: the same seed draws the same tokens, another seed others") {
  std::vector<int64_t> a, b, c;
  for (uint64_t s = 0; s < 64; ++s) {
    a.push_back(sample_token(kLogits.data(), kV, {1.0, 0, 5}, s));
    b.push_back(sample_token(kLogits.data(), kV, {1.0, 0, 5}, s));
    c.push_back(sample_token(kLogits.data(), kV, {1.0, 0, 6}, s));
  }
  CHECK(a == b);
  CHECK(a != c);
  const double u = sampler_uniform(5, 3);
  CHECK(u >= 0.0);
  CHECK(u < 1.0);
  CHECK(u == sampler_uniform(5, 3));
}

TEST_CASE("sampler: bad input throws") {
  const std::vector<float> nan = {0.0f, std::nanf("")};
  CHECK_THROWS_AS(sampling_distribution(nan.data(), 2, 1.0, 0), std::invalid_argument);
  CHECK_THROWS_AS(sampling_distribution(kLogits.data(), 0, 1.0, 0), std::invalid_argument);
  CHECK_THROWS_AS(sampling_distribution(kLogits.data(), kV, 1.0, -1), std::invalid_argument);
}
