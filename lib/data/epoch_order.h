// epoch_order.h: which samples a rank sees in which order — pure functions of (split size, seed,
// epoch, rank, world size, batch size, drop_last), so every platform, every restart and every
// rank computes the same plan without talking to the others.
//
// Epoch e's global order is a Fisher-Yates shuffle of 0..N-1 driven by Philox (core/philox.h)
// keyed on the seed, with the epoch as the stream offset; without shuffling it is 0..N-1.
// Rank r of W takes positions r, r+W, r+2W, ... of that order (strided, like PyTorch's
// DistributedSampler):
//   drop_last:  floor(N / W) samples per rank (the tail of the order is left out this epoch),
//               floor(per_rank / B) full batches;
//   otherwise:  ceil(N / W) samples per rank, wrapping around to the start of the order to pad
//               the last ranks (so a sample may appear twice in one epoch across ranks when W
//               does not divide N), ceil(per_rank / B) batches, the last one possibly short.
// Every rank therefore gets the same number of batches of the same sizes.
#pragma once
#include <cstdint>
#include <vector>

namespace mp {

// The global order of epoch `epoch`: a permutation of 0..n-1 (identity when !shuffle).
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch, bool shuffle);

struct ShardPlan {
  int64_t per_rank = 0;         // samples each rank takes per epoch (including padding)
  int64_t batches = 0;          // batches per epoch on every rank
  int64_t last_batch_size = 0;  // size of the last batch of an epoch (== batch size if full)
};

// The per-rank plan. DataError-free: a plan with 0 batches is the caller's error to report.
ShardPlan shard_plan(int64_t n, int world_size, int64_t batch_size, bool drop_last);

// The samples of rank `rank` in epoch order (per_rank of them), taken from `order` (size n).
std::vector<int64_t> shard_of(const std::vector<int64_t>& order, int rank, int world_size,
                              bool drop_last);

// Number of leading entries of shard_of(...) that are not wrap-around padding.
int64_t shard_real_count(int64_t n, int rank, int world_size, bool drop_last);

}  // namespace mp
