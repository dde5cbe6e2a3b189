// data_loader.h: the batch stream a trainer consumes — batches of one split in the seeded,
// sharded order of epoch_order.h, or context windows of a token stream (token_windows.h), built ahead by a background thread into a bounded queue of
// `prefetch` batches. The stream is a pure function of its options: cursor() saved in a
// checkpoint and passed back (constructor or seek) continues with exactly the batches the
// original run would have produced next.
#pragma once
#include <cstdint>
#include <memory>
#include <thread>
#include <variant>

#include "data/batch.h"
#include "data/batch_maker.h"
#include "data/batch_queue.h"
#include "data/data_spec.h"
#include "data/split.h"
#include "data/token_windows.h"

namespace mp {

// Loader options from the run spec's data section, for this rank.
LoaderOptions loader_options(const DataSpec& spec, uint64_t seed, int rank = 0, int world_size = 1);

class DataLoader {
 public:
  // DataError when an epoch would have no batch (see BatchMaker). Starts the prefetch thread
  // (when opt.prefetch > 0) at `start`.
  DataLoader(std::shared_ptr<const Split> split, const LoaderOptions& opt, LoaderCursor start = {});
  // Windows of opt.context tokens from `tokens` (token_windows.h); DataError when they do not fit.
  DataLoader(std::shared_ptr<const TokenStream> tokens, const LoaderOptions& opt,
             LoaderCursor start = {});
  ~DataLoader();  // stops and joins the prefetch thread
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // The batch at cursor(), then advances the cursor (into the next epoch after the last batch).
  // Rethrows an exception raised while building it (a DataError when the file cannot be read).
  Batch next();

  // Position of the batch next() returns; save it in checkpoints.
  LoaderCursor cursor() const { return cursor_; }
  // Continue from `c` (drops batches prepared ahead). DataError when c.batch is past the end of
  // an epoch, i.e. the cursor was saved with another data set, batch size or world size;
  // c.batch == batches_per_epoch() is accepted as the start of the next epoch.
  void seek(LoaderCursor c);

  int64_t batches_per_epoch() const { return plan().batches; }
  int64_t samples_per_epoch() const { return plan().per_rank; }  // this rank, with padding
  const Split& split() const;  // a loader of samples only
  const LoaderOptions& options() const { return opt_; }

 private:
  using Maker = std::variant<BatchMaker, TokenBatchMaker>;
  DataLoader(Maker maker, std::shared_ptr<const Split> split, std::string source,
             const LoaderOptions& opt, LoaderCursor start);
  const ShardPlan& plan() const;
  void start_thread();
  void stop_thread();

  std::shared_ptr<const Split> split_;  // null for a token stream
  std::string source_;                  // "file: split /train/x" for messages
  LoaderOptions opt_;
  Maker maker_;  // used by next() without prefetch; the thread has its own copy
  LoaderCursor cursor_;
  std::unique_ptr<BoundedQueue<Batch>> queue_;
  std::thread thread_;
};

}  // namespace mp
