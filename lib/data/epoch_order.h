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
//
// Memory: a shuffled order is held as 4 bytes per sample, and at most kMaxShuffledSamples of
// them (1 GiB); an unshuffled order is computed, not stored. A rank's shard is read through
// the order (shard_position), never copied.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mp {

// The most samples a shuffled split may hold: 2^28 (268,435,456), an order of 1 GiB.
inline constexpr int64_t kMaxShuffledSamples = int64_t{1} << 28;

// The global order of one epoch: a permutation of 0..n-1 (the identity when !shuffle).
class EpochOrder {
 public:
  EpochOrder() = default;  // the empty order
  // Needs n <= kMaxShuffledSamples when shuffling (callers refuse larger splits with the dataset
  // named); std::bad_alloc when the order does not fit in memory.
  EpochOrder(int64_t n, uint64_t seed, int64_t epoch, bool shuffle);

  int64_t size() const { return n_; }
  // The sample at position pos in [0, size()).
  int64_t operator[](int64_t pos) const {
    return perm_.empty() ? pos : static_cast<int64_t>(perm_[static_cast<size_t>(pos)]);
  }

 private:
  int64_t n_ = 0;
  std::vector<uint32_t> perm_;  // empty when not shuffled (or n <= 1): the identity
};

struct ShardPlan {
  int64_t per_rank = 0;  // samples each rank takes per epoch (including padding)
  int64_t batches = 0;   // batches per epoch on every rank; batch b has
                         // min(B, per_rank - b*B) samples
};

// The per-rank plan. DataError-free: a plan with 0 batches is the caller's error to report.
ShardPlan shard_plan(int64_t n, int world_size, int64_t batch_size, bool drop_last);

// Position in the epoch order (size n >= 1) of the k-th sample of rank `rank`: rank + k*W,
// wrapped around past the end (the padding of !drop_last).
int64_t shard_position(int64_t k, int rank, int world_size, int64_t n);

// Number of leading samples of a rank's shard that are not wrap-around padding.
int64_t shard_real_count(int64_t n, int rank, int world_size, bool drop_last);

}  // namespace mp
