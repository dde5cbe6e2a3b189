// batch_maker.h: builds the batch at any cursor position — a pure function of (split, options,
// cursor), so a prefetch thread, a synchronous loader and a resumed run all produce the same
// bytes. Caches the current epoch's order so consecutive batches cost one permutation per epoch.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "data/batch.h"
#include "data/epoch_order.h"
#include "data/split.h"

namespace mp {

struct LoaderOptions {
  int64_t batch_size = 32;    // samples per batch on this rank, >= 1
  bool shuffle = true;        // new seeded order every epoch
  bool drop_last = true;      // drop the incomplete last batch (and the sharding tail)
  int64_t prefetch = 2;       // ready batches a background thread keeps; 0 = build in next()
  double input_scale = 1.0;   // inputs are multiplied by this
  uint64_t seed = 0;          // shuffle seed (the run seed)
  int rank = 0;               // this process's rank in [0, world_size)
  int world_size = 1;         // data-parallel processes sharing each epoch
  int64_t context = 0;        // token streams (token_windows.h): tokens per window T, >= 1
};

// Internal errors for options no caller should build: batch_size < 1, rank outside
// [0, world_size). `who` names the caller.
void check_loader_options(const LoaderOptions& opt, const char* who);

// A batch at cursor `c` with its place filled in (at, last_in_epoch, size, num_real) for a rank
// whose shard of plan.per_rank samples starts with `real_count` real ones; the data is the
// caller's. Its first sample is the shard's sample c.batch * batch_size.
Batch batch_at(LoaderCursor c, const ShardPlan& plan, int64_t batch_size, int64_t real_count);

// Keeps only the batch's num_real leading samples: the wrap-around padding that sharding adds to
// a short last batch (drop_last: false, world_size not dividing the split) is removed, so a
// data-parallel step or evaluation counts every real sample once, as one process would. The
// batch may become empty (a rank whose last batch was all padding).
void drop_padding_rows(Batch& b);

class BatchMaker {
 public:
  // DataError when the options give no batch per epoch (batch larger than this rank's share), or
  // a shuffled split has more than kMaxShuffledSamples samples.
  BatchMaker(std::shared_ptr<const Split> split, const LoaderOptions& opt);

  const ShardPlan& plan() const { return plan_; }
  // The cursor after `c`: the next batch, or batch 0 of the next epoch.
  LoaderCursor advance(LoaderCursor c) const;
  // The batch at `c` (c.batch < plan().batches). DataError when the file cannot be read, a value
  // is NaN/Inf (Split::read), or the epoch order does not fit in memory.
  Batch make(LoaderCursor c);

 private:
  std::shared_ptr<const Split> split_;
  LoaderOptions opt_;
  ShardPlan plan_;
  int64_t real_count_ = 0;
  int64_t cached_epoch_ = -1;
  EpochOrder order_;
};

}  // namespace mp
