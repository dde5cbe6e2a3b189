// core_philox.cpp: Philox4x32-10 in core/philox.h against the published known answers and an
// independent implementation, the (seed, offset, i) stream contract, and the distributions of
// philox_uniform / philox_normal. Statistical bounds are 5 standard errors from the CLT (the seeds
// are fixed, so the outcome is deterministic; 5 sigma makes a false alarm ~1e-6 per check when a
// seed is changed).
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "core/philox.h"

namespace {

using mp::Philox4;

// An independent Philox4x32-R written from Salmon et al. (SC'11), in the key-schedule order of
// the Random123 reference (bump the key *before* every round after the first), with the S-box
// written as 64-bit products.
std::array<uint32_t, 4> philox_ref(std::array<uint32_t, 4> x, std::array<uint32_t, 2> k, int rounds) {
  constexpr uint64_t M0 = 0xD2511F53, M1 = 0xCD9E8D57;
  constexpr uint32_t W0 = 0x9E3779B9, W1 = 0xBB67AE85;
  for (int r = 0; r < rounds; ++r) {
    if (r > 0) {
      k[0] += W0;
      k[1] += W1;
    }
    const uint64_t p0 = M0 * x[0], p1 = M1 * x[2];
    x = {static_cast<uint32_t>(p1 >> 32) ^ x[1] ^ k[0], static_cast<uint32_t>(p1),
         static_cast<uint32_t>(p0 >> 32) ^ x[3] ^ k[1], static_cast<uint32_t>(p0)};
  }
  return x;
}

std::array<uint32_t, 4> ours(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  const Philox4 r = mp::philox4x32(Philox4{{c[0], c[1], c[2], c[3]}}, k[0], k[1]);
  return {r.v[0], r.v[1], r.v[2], r.v[3]};
}

}  // namespace

// Random123 1.x, tests/kat_vectors, the three "philox4x32 10" lines (CTR[4] KEY[2] -> OUT[4]):
//   philox4x32 10 00000000 00000000 00000000 00000000 00000000 00000000   6627e8d5 e169c58d bc57ac4c 9b00dbd8
//   philox4x32 10 ffffffff ffffffff ffffffff ffffffff ffffffff ffffffff   408f276d 41c83b0e a20bc7c6 6d5451fd
//   philox4x32 10 243f6a88 85a308d3 13198a2e 03707344 a4093822 299f31d0   d16cfe09 94fdcceb 5001e420 24126ea1
TEST_CASE("Philox4x32-10 known answers (Random123 kat_vectors)") {
  struct Kat {
    std::array<uint32_t, 4> ctr;
    std::array<uint32_t, 2> key;
    std::array<uint32_t, 4> out;
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat& k : kats) {
    CHECK(ours(k.ctr, k.key) == k.out);
    CHECK(philox_ref(k.ctr, k.key, 10) == k.out);  // the reference is right too
  }
  // Random123's 7-round vectors check the reference's round structure independently of round 10.
  CHECK(philox_ref({0, 0, 0, 0}, {0, 0}, 7) ==
        std::array<uint32_t, 4>{0x5f6fb709, 0x0d893f64, 0x4f121f81, 0x4f730a48});
}

TEST_CASE("Philox4x32-10 equals the independent implementation on random inputs") {
  std::mt19937 gen(2024);
  for (int t = 0; t < 20000; ++t) {
    const std::array<uint32_t, 4> c{static_cast<uint32_t>(gen()), static_cast<uint32_t>(gen()),
                                    static_cast<uint32_t>(gen()), static_cast<uint32_t>(gen())};
    const std::array<uint32_t, 2> k{static_cast<uint32_t>(gen()), static_cast<uint32_t>(gen())};
    REQUIRE(ours(c, k) == philox_ref(c, k, 10));
  }
}

TEST_CASE("philox_bits: word i%4 of block i/4, counter {block, offset}, key = seed") {
  std::mt19937_64 gen(7);
  for (int t = 0; t < 2000; ++t) {
    const uint64_t seed = gen(), offset = gen() >> (t % 64), i = gen() >> (t % 64);
    const uint64_t block = i >> 2;
    const auto want = philox_ref({static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                                  static_cast<uint32_t>(offset), static_cast<uint32_t>(offset >> 32)},
                                 {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)}, 10);
    REQUIRE(mp::philox_bits(seed, offset, i) == want[i & 3]);
  }
}

TEST_CASE("philox_bits depends only on (seed, offset, i), not on call order") {
  const uint64_t seed = 0x0123456789abcdefull, offset = 42;
  const size_t n = 1 << 16;
  std::vector<uint32_t> fwd(n), rev(n), shuf(n), par(n);
  for (size_t i = 0; i < n; ++i) fwd[i] = mp::philox_bits(seed, offset, i);
  for (size_t i = n; i-- > 0;) rev[i] = mp::philox_bits(seed, offset, i);
  std::vector<size_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(1));
  for (size_t j = 0; j < n; ++j) {
    shuf[perm[j]] = mp::philox_bits(seed, offset, perm[j]);
    (void)mp::philox_bits(seed + 1, offset + j, j);  // interleaved calls on other streams
  }
#pragma omp parallel for schedule(dynamic, 97)
  for (int64_t i = 0; i < static_cast<int64_t>(n); ++i)
    par[static_cast<size_t>(i)] = mp::philox_bits(seed, offset, static_cast<uint64_t>(i));
  CHECK(fwd == rev);
  CHECK(fwd == shuf);
  CHECK(fwd == par);
  // the same holds for the float transforms
  for (uint64_t i : {0ull, 1ull, 12345ull, (1ull << 40) + 3})
    CHECK(mp::philox_normal(seed, offset, i) == mp::philox_normal(seed, offset, i));
}

TEST_CASE("different seeds and offsets give different streams") {
  const size_t n = 100000;
  const uint64_t s0 = 99;
  struct Stream {
    uint64_t seed, offset;
  };
  // Low and high words of both seed and offset, and neighbouring values.
  const Stream streams[] = {{s0, 0},           {s0, 1},           {s0, 2},     {s0, 1ull << 32},
                            {s0 + 1, 0},       {s0 + (1ull << 32), 0}, {s0 ^ 1, 1}, {0, 0}};
  std::vector<std::vector<uint32_t>> bits;
  for (const Stream& s : streams) {
    std::vector<uint32_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = mp::philox_bits(s.seed, s.offset, i);
    bits.push_back(std::move(v));
  }
  for (size_t a = 0; a < bits.size(); ++a)
    for (size_t b = a + 1; b < bits.size(); ++b) {
      size_t equal = 0;
      double sxy = 0;  // correlation of the uniforms: |r| < 5 / sqrt(n) for independent streams
      for (size_t i = 0; i < n; ++i) {
        equal += bits[a][i] == bits[b][i];
        sxy += (mp::bits_to_unit(bits[a][i]) - 0.5) * (mp::bits_to_unit(bits[b][i]) - 0.5);
      }
      INFO("streams " << a << " and " << b);
      CHECK(equal <= 2);  // expected 100000 / 2^32 ~ 2e-5 coincidences
      CHECK(std::fabs(sxy / n * 12.0) < 5.0 / std::sqrt(static_cast<double>(n)));
    }
  // normal streams differ between offsets too
  int same = 0;
  for (uint64_t i = 0; i < 1000; ++i) same += mp::philox_normal(s0, 0, i) == mp::philox_normal(s0, 1, i);
  CHECK(same == 0);
}

TEST_CASE("bits_to_unit maps onto (0, 1] exactly") {
  CHECK(mp::bits_to_unit(0) == 0x1p-24f);
  CHECK(mp::bits_to_unit(0xffffffffu) == 1.0f);
  CHECK(mp::bits_to_unit(0x80000000u) == 0.5f + 0x1p-24f);
  CHECK(mp::bits_to_unit(0xff) == 0x1p-24f);  // the low 8 bits are dropped
}

TEST_CASE("philox_uniform: (0, 1], mean, variance, histogram and bit balance over 1e6 draws") {
  const int64_t n = 1000000;
  const uint64_t seed = 31337, offset = 5;
  constexpr int kBins = 100;
  std::vector<int64_t> hist(kBins, 0);
  std::vector<int64_t> ones(32, 0);
  double sum = 0, sum2 = 0;
  float lo = 2, hi = -1;
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t b = mp::philox_bits(seed, offset, static_cast<uint64_t>(i));
    const float u = mp::philox_uniform(seed, offset, static_cast<uint64_t>(i));
    REQUIRE(u == mp::bits_to_unit(b));
    lo = std::min(lo, u);
    hi = std::max(hi, u);
    sum += u;
    sum2 += static_cast<double>(u) * u;
    ++hist[std::min(kBins - 1, static_cast<int>(u * kBins))];
    for (int k = 0; k < 32; ++k) ones[static_cast<size_t>(k)] += (b >> k) & 1u;
  }
  CHECK(lo > 0.0f);  // no zeros: log(u) is safe
  CHECK(hi <= 1.0f);
  // Exact moments of U = (k + 1) / 2^24, k uniform on [0, 2^24): mean (2^24 + 1) / 2^25,
  // variance (2^48 - 1) / (12 * 2^48).
  const double mean = sum / n, var = sum2 / n - mean * mean;
  const double mu = (0x1p24 + 1) / 0x1p25, sigma2 = (0x1p48 - 1) / (12 * 0x1p48);
  // SE of the mean: sqrt(sigma2 / n); SE of the sample variance: sqrt((mu4 - sigma^4) / n) with
  // mu4 = 1/80 for a uniform, so mu4 - sigma^4 = 1/80 - 1/144 = 1/180.
  CHECK(std::fabs(mean - mu) < 5 * std::sqrt(sigma2 / n));
  CHECK(std::fabs(var - sigma2) < 5 * std::sqrt(1.0 / 180 / n));
  // Chi-square over 100 equal bins: 99 degrees of freedom, mean 99, sd sqrt(198).
  double chi2 = 0;
  const double expect = static_cast<double>(n) / kBins;
  for (int64_t h : hist) chi2 += (h - expect) * (h - expect) / expect;
  CHECK(chi2 < 99 + 5 * std::sqrt(198.0));
  // Every bit is 1 half the time: SE sqrt(0.25 / n).
  for (int k = 0; k < 32; ++k) {
    INFO("bit " << k);
    CHECK(std::fabs(static_cast<double>(ones[static_cast<size_t>(k)]) / n - 0.5) < 5 * std::sqrt(0.25 / n));
  }
}

TEST_CASE("philox_normal: mean 0, variance 1, shape over 1e6 draws") {
  const int64_t n = 1000000;
  const uint64_t seed = 8675309, offset = 11;
  constexpr int kBins = 100;
  std::vector<int64_t> hist(kBins, 0);
  double sum = 0, sum2 = 0, sum4 = 0;
  int64_t within1 = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float z = mp::philox_normal(seed, offset, static_cast<uint64_t>(i));
    REQUIRE(std::isfinite(z));
    const double d = z;
    sum += d;
    sum2 += d * d;
    sum4 += d * d * d * d;
    within1 += std::fabs(d) < 1.0;
    // Probability integral transform: Phi(z) is uniform on (0, 1) for a standard normal.
    const double p = 0.5 * std::erfc(-d / std::sqrt(2.0));
    ++hist[static_cast<size_t>(std::clamp(static_cast<int>(p * kBins), 0, kBins - 1))];
  }
  const double mean = sum / n, var = sum2 / n - mean * mean;
  // SE of the mean 1/sqrt(n); of the sample variance sqrt((mu4 - 1) / n) = sqrt(2 / n).
  CHECK(std::fabs(mean) < 5 / std::sqrt(static_cast<double>(n)));
  CHECK(std::fabs(var - 1) < 5 * std::sqrt(2.0 / n));
  // Fourth moment 3, SE sqrt((mu8 - mu4^2) / n) = sqrt((105 - 9) / n).
  CHECK(std::fabs(sum4 / n - 3) < 5 * std::sqrt(96.0 / n));
  // P(|Z| < 1) = erf(1 / sqrt 2) = 0.682689...; binomial SE.
  const double p1 = std::erf(1 / std::sqrt(2.0));
  CHECK(std::fabs(static_cast<double>(within1) / n - p1) < 5 * std::sqrt(p1 * (1 - p1) / n));
  double chi2 = 0;
  const double expect = static_cast<double>(n) / kBins;
  for (int64_t h : hist) chi2 += (h - expect) * (h - expect) / expect;
  CHECK(chi2 < 99 + 5 * std::sqrt(198.0));
}

// philox_run (the CUDA maps' bits for a vector of K elements, one Philox call per block of 4):
// every element's word equals philox_bits at every phase of i0, across the 2^32 block boundary.
template <int K>
void check_run(uint64_t seed, uint64_t offset, uint64_t i0) {
  uint32_t w[K];
  for (int k = 0; k < K; ++k) w[k] = 0xDEADBEEFu ^ static_cast<uint32_t>(k);  // every k written
  mp::philox_run<K>(seed, offset, i0, w);
  for (int k = 0; k < K; ++k) {
    CAPTURE(K);
    CAPTURE(i0);
    CAPTURE(k);
    CHECK(w[k] == mp::philox_bits(seed, offset, i0 + static_cast<uint64_t>(k)));
  }
}

TEST_CASE("philox_run: K words from one block per 4 elements equal philox_bits at every phase") {
  const uint64_t big = (uint64_t{1} << 34) - 12;  // blocks 2^32 - 3 .. 2^32 + 2: the high word
  for (uint64_t base : {uint64_t{0}, uint64_t{1000}, big})
    for (uint64_t ph = 0; ph < 12; ++ph) {
      check_run<4>(0x1234567890ABCDEFull, 77, base + ph);
      check_run<8>(0x1234567890ABCDEFull, 77, base + ph);
      check_run<8>(3, uint64_t{1} << 40, base + ph);
    }
}
