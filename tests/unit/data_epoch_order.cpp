// data_epoch_order.cpp: epoch permutations are deterministic permutations that differ between
// epochs and seeds; sharding splits each epoch into disjoint, covering, equally sized parts.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "core/error.h"
#include "data/epoch_order.h"

using namespace mp;

namespace {
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  const EpochOrder o(n, seed, epoch, shuffle);
  std::vector<int64_t> v(static_cast<size_t>(o.size()));
  for (int64_t i = 0; i < o.size(); ++i) v[static_cast<size_t>(i)] = o[i];
  return v;
}

// Rank `rank`'s samples in epoch order, read through the order as BatchMaker does.
std::vector<int64_t> shard_of(const std::vector<int64_t>& order, int rank, int world_size,
                              bool drop_last) {
  const auto n = static_cast<int64_t>(order.size());
  const ShardPlan plan = shard_plan(n, world_size, 1, drop_last);
  std::vector<int64_t> out;
  for (int64_t k = 0; k < plan.per_rank; ++k)
    out.push_back(order[static_cast<size_t>(shard_position(k, rank, world_size, n))]);
  return out;
}

bool is_permutation_of_range(std::vector<int64_t> p) {
  std::sort(p.begin(), p.end());
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] != static_cast<int64_t>(i)) return false;
  return true;
}
}  // namespace

TEST_CASE("each epoch is a permutation, a pure function of (seed, epoch)") {
  for (int64_t n : {1, 2, 3, 10, 1000, 60000}) {
    const auto a = epoch_permutation(n, 42, 0, true);
    CHECK(static_cast<int64_t>(a.size()) == n);
    CHECK(is_permutation_of_range(a));
    CHECK(a == epoch_permutation(n, 42, 0, true));
    CHECK(is_permutation_of_range(epoch_permutation(n, 42, 7, true)));
  }
  const auto e0 = epoch_permutation(1000, 42, 0, true);
  const auto e1 = epoch_permutation(1000, 42, 1, true);
  const auto s1 = epoch_permutation(1000, 43, 0, true);
  std::vector<int64_t> id(1000);
  std::iota(id.begin(), id.end(), 0);
  CHECK(e0 != e1);
  CHECK(e0 != s1);
  CHECK(e0 != id);
  CHECK(epoch_permutation(1000, 42, 3, false) == id);
  CHECK(epoch_permutation(0, 1, 0, true).empty());
}

TEST_CASE("the shuffle is pinned: same numbers on every platform and build") {
  // Philox-driven Fisher-Yates: these values must never change, or resumed runs and runs on
  // other machines would see other batches. Update only with a checkpoint format bump.
  CHECK(epoch_permutation(10, 0, 0, true) == std::vector<int64_t>{9, 4, 8, 7, 3, 6, 5, 2, 1, 0});
  CHECK(epoch_permutation(10, 12345, 3, true) == std::vector<int64_t>{6, 0, 9, 5, 1, 3, 4, 8, 7, 2});
}

TEST_CASE("the shuffle is roughly uniform: every element visits every position") {
  const int64_t n = 8, trials = 4000;
  std::vector<std::vector<int>> counts(n, std::vector<int>(n, 0));
  for (int64_t e = 0; e < trials; ++e) {
    const auto p = epoch_permutation(n, 9, e, true);
    for (int64_t pos = 0; pos < n; ++pos) ++counts[static_cast<size_t>(p[static_cast<size_t>(pos)])][static_cast<size_t>(pos)];
  }
  for (const auto& row : counts)
    for (int c : row) CHECK((c > 400 && c < 600));  // expected 500; 4.5 sigma band
}

TEST_CASE("shards are disjoint, cover the kept samples, and have equal batch counts") {
  for (int64_t n : {1, 7, 100, 101, 103}) {
    for (int w : {1, 2, 3, 4}) {
      for (bool drop_last : {true, false}) {
        CAPTURE(n);
        CAPTURE(w);
        CAPTURE(drop_last);
        const auto order = epoch_permutation(n, 5, 2, true);
        const ShardPlan plan = shard_plan(n, w, 8, drop_last);
        std::multiset<int64_t> seen_real;
        std::set<int64_t> seen_all;
        for (int r = 0; r < w; ++r) {
          const auto s = shard_of(order, r, w, drop_last);
          CHECK(static_cast<int64_t>(s.size()) == plan.per_rank);
          const int64_t real = shard_real_count(n, r, w, drop_last);
          CHECK(real <= plan.per_rank);
          for (int64_t k = 0; k < plan.per_rank; ++k) {
            seen_all.insert(s[static_cast<size_t>(k)]);
            if (k < real) seen_real.insert(s[static_cast<size_t>(k)]);
          }
        }
        // Real samples never repeat across ranks.
        CHECK(std::set<int64_t>(seen_real.begin(), seen_real.end()).size() == seen_real.size());
        if (drop_last) {
          CHECK(plan.per_rank == n / w);
          CHECK(static_cast<int64_t>(seen_real.size()) == (n / w) * w);
          CHECK(plan.batches == plan.per_rank / 8);
        } else {
          CHECK(static_cast<int64_t>(seen_real.size()) == n);  // every sample once
          CHECK(static_cast<int64_t>(seen_all.size()) == n);   // padding only repeats samples
          CHECK(plan.batches == (plan.per_rank + 7) / 8);
        }
      }
    }
  }
}

TEST_CASE("strided sharding: rank r takes positions r, r+W, ...") {
  const std::vector<int64_t> order{10, 11, 12, 13, 14, 15, 16};
  CHECK(shard_of(order, 0, 3, true) == std::vector<int64_t>{10, 13});
  CHECK(shard_of(order, 2, 3, true) == std::vector<int64_t>{12, 15});
  CHECK(shard_of(order, 0, 3, false) == std::vector<int64_t>{10, 13, 16});
  CHECK(shard_of(order, 1, 3, false) == std::vector<int64_t>{11, 14, 10});  // wraps
  CHECK(shard_real_count(7, 1, 3, false) == 2);
  CHECK(shard_real_count(7, 0, 3, false) == 3);
  const ShardPlan p = shard_plan(7, 3, 2, false);
  CHECK(p.per_rank == 3);
  CHECK(p.batches == 2);
}

TEST_CASE("an unshuffled order is computed, not stored; a shuffled one is bounded") {
  // 10^12 samples: a stored order would need terabytes, so this returning at once shows none is.
  const EpochOrder id(1000000000000LL, 7, 3, false);
  CHECK(id.size() == 1000000000000LL);
  CHECK(id[0] == 0);
  CHECK(id[999999999999LL] == 999999999999LL);
  CHECK(shard_position(499999999999LL, 1, 2, 1000000000000LL) == 999999999999LL);
  CHECK(kMaxShuffledSamples == (int64_t{1} << 28));
  CHECK_THROWS_AS(EpochOrder(kMaxShuffledSamples + 1, 1, 0, true), InternalError);
}
