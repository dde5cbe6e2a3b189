// token_windows.h: the batches of a token stream (data.format: tokens) — windows of context + 1
// tokens w, cut into inputs x = w[0:T] and next-token labels w[1:T+1]. Like BatchMaker, a pure
// function of (stream, options, cursor), so the prefetch thread, a synchronous loader and a
// resumed run produce the same bytes.
//
// Two orders, chosen by LoaderOptions::shuffle:
//   shuffle (training):   an epoch is N = floor(L / T) windows, each at a random start in
//                         [0, L - T - 1]; draw g of epoch e has start Philox(seed, e, g) mod (L - T),
//                         so windows overlap freely and every start is equally likely.
//   !shuffle (validation, or training in order): the N = floor((L - 1) / T) non-overlapping
//                         windows starting at 0, T, 2T, ..., in order (the last tokens that do not
//                         fill a window are left out).
// Ranks: rank r of W takes draws (or windows) r, r+W, r+2W, ... of the epoch (as epoch_order.h
// shards samples), with the same ShardPlan — so W ranks x batch B see exactly the windows of one
// process x batch W*B. In order, !drop_last pads the last ranks by wrap-around (num_real says how
// many rows are real); random draws need no padding (every draw is fresh).
#pragma once
#include <cstdint>
#include <memory>

#include "data/batch.h"
#include "data/batch_maker.h"
#include "data/epoch_order.h"
#include "data/token_stream.h"

namespace mp {

class TokenBatchMaker {
 public:
  // DataError when the context does not fit in the stream (TokenStream::check_context), or the
  // options give no batch per epoch.
  TokenBatchMaker(std::shared_ptr<const TokenStream> stream, const LoaderOptions& opt);

  const ShardPlan& plan() const { return plan_; }
  int64_t windows_per_epoch() const { return windows_; }  // N, over all ranks
  LoaderCursor advance(LoaderCursor c) const;
  // The batch at `c` (c.batch < plan().batches): x_shape {B, T} (token ids as floats), y_shape
  // {B, T}, labels B*T int32, indices = each window's start in the stream.
  Batch make(LoaderCursor c) const;
  // Start of the window at position k (0-based, over all ranks) of epoch `epoch`.
  int64_t window_start(int64_t epoch, int64_t k) const;

 private:
  std::shared_ptr<const TokenStream> stream_;
  LoaderOptions opt_;
  int64_t windows_ = 0;
  ShardPlan plan_;
  int64_t real_count_ = 0;
};

}  // namespace mp
