// epoch_order.cpp: Philox-driven Fisher-Yates epoch permutation and strided sharding.
#include "data/epoch_order.h"

#include <utility>

#include "core/error.h"
#include "core/philox.h"

namespace mp {

namespace {
// Mixed into the seed so the data order never shares a Philox stream with weight init or dropout
// that use the same run seed.
constexpr uint64_t kDataStreamKey = 0xD1B54A32D192ED03ull;
}  // namespace

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  MP_CHECK(n >= 0 && epoch >= 0, "epoch_permutation: negative size or epoch");
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] = i;
  if (!shuffle) return p;
  const uint64_t key = seed ^ kDataStreamKey;
  const uint64_t offset = static_cast<uint64_t>(epoch);
  for (int64_t i = n - 1; i > 0; --i) {
    // 64 random bits per swap; the modulo bias is below 2^-30 for any n < 2^34.
    const uint64_t k = static_cast<uint64_t>(i);
    const uint64_t r = (static_cast<uint64_t>(philox_bits(key, offset, 2 * k)) << 32) |
                       philox_bits(key, offset, 2 * k + 1);
    const auto j = static_cast<size_t>(r % (k + 1));
    std::swap(p[static_cast<size_t>(i)], p[j]);
  }
  return p;
}

ShardPlan shard_plan(int64_t n, int world_size, int64_t batch_size, bool drop_last) {
  MP_CHECK(world_size >= 1 && batch_size >= 1 && n >= 0, "shard_plan: bad arguments");
  ShardPlan s;
  s.per_rank = drop_last ? n / world_size : (n + world_size - 1) / world_size;
  if (drop_last) {
    s.batches = s.per_rank / batch_size;
    s.last_batch_size = batch_size;
  } else {
    s.batches = (s.per_rank + batch_size - 1) / batch_size;
    const int64_t rem = s.per_rank % batch_size;
    s.last_batch_size = rem == 0 ? batch_size : rem;
  }
  if (s.batches == 0) s.last_batch_size = 0;
  return s;
}

std::vector<int64_t> shard_of(const std::vector<int64_t>& order, int rank, int world_size,
                              bool drop_last) {
  MP_CHECK(0 <= rank && rank < world_size, "shard_of: rank out of range");
  const auto n = static_cast<int64_t>(order.size());
  const int64_t per_rank = drop_last ? n / world_size : (n + world_size - 1) / world_size;
  std::vector<int64_t> out(static_cast<size_t>(per_rank));
  for (int64_t k = 0; k < per_rank; ++k) {
    const int64_t pos = (rank + k * world_size) % (n == 0 ? 1 : n);
    out[static_cast<size_t>(k)] = order[static_cast<size_t>(pos)];
  }
  return out;
}

int64_t shard_real_count(int64_t n, int rank, int world_size, bool drop_last) {
  if (drop_last) return n / world_size;
  // positions rank + k*W < n are real
  return n > rank ? (n - rank + world_size - 1) / world_size : 0;
}

}  // namespace mp
