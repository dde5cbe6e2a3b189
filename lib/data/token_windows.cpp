// token_windows.cpp: random and in-order context windows of a token stream.
#include "data/token_windows.h"

#include <algorithm>

#include "core/error.h"
#include "core/philox.h"

namespace mp {

namespace {
// Mixed into the seed so window starts never share a Philox stream with weight init, dropout or
// the sample order (epoch_order.cpp) that use the same run seed.
constexpr uint64_t kTokenStreamKey = 0x7A3C5E9B1F2D4C68ull;
}  // namespace

TokenBatchMaker::TokenBatchMaker(std::shared_ptr<const TokenStream> stream, const LoaderOptions& opt)
    : stream_(std::move(stream)), opt_(opt) {
  MP_CHECK(stream_ != nullptr, "TokenBatchMaker: null stream");
  check_loader_options(opt_, "TokenBatchMaker");
  stream_->check_context(opt_.context);
  const int64_t len = stream_->size(), t = opt_.context;
  windows_ = opt_.shuffle ? len / t : (len - 1) / t;
  plan_ = shard_plan(windows_, opt_.world_size, opt_.batch_size, opt_.drop_last);
  real_count_ = opt_.shuffle ? plan_.per_rank
                             : shard_real_count(windows_, opt_.rank, opt_.world_size, opt_.drop_last);
  if (plan_.batches == 0) {
    throw DataError(stream_->file() + ": dataset " + stream_->path() + ": batch_size " +
                    std::to_string(opt_.batch_size) + " is larger than the " +
                    std::to_string(plan_.per_rank) + " windows of " + std::to_string(t) +
                    " tokens per epoch" +
                    (opt_.world_size > 1 ? " per rank (world_size " + std::to_string(opt_.world_size) + ")"
                                         : std::string()) +
                    ", so with drop_last an epoch has no batch; lower data.batch_size or "
                    "data.context, or set data.drop_last: false");
  }
}

LoaderCursor TokenBatchMaker::advance(LoaderCursor c) const { return next_cursor(c, plan_.batches); }

int64_t TokenBatchMaker::window_start(int64_t epoch, int64_t k) const {
  const int64_t t = opt_.context;
  if (!opt_.shuffle) return (k % windows_) * t;
  const uint64_t key = opt_.seed ^ kTokenStreamKey;
  const auto off = static_cast<uint64_t>(epoch), i = static_cast<uint64_t>(k);
  // 64 random bits per window; the modulo bias is below 2^-30 for any stream under 2^34 tokens.
  const uint64_t r = (static_cast<uint64_t>(philox_bits(key, off, 2 * i)) << 32) |
                     philox_bits(key, off, 2 * i + 1);
  return static_cast<int64_t>(r % static_cast<uint64_t>(stream_->size() - t));
}

Batch TokenBatchMaker::make(LoaderCursor c) const {
  MP_CHECK(c.epoch >= 0 && c.batch >= 0 && c.batch < plan_.batches, "TokenBatchMaker: bad cursor");
  const int64_t t = opt_.context;
  Batch b = batch_at(c, plan_, opt_.batch_size, real_count_);
  const int64_t begin = c.batch * opt_.batch_size;
  b.x_shape = {b.size, t};
  b.y_shape = {b.size, t};
  b.x.resize(static_cast<size_t>(b.size * t));
  b.labels.resize(static_cast<size_t>(b.size * t));
  b.indices.resize(static_cast<size_t>(b.size));
  const int32_t* tok = stream_->data();
  for (int64_t i = 0; i < b.size; ++i) {
    // The k-th window of this rank is the epoch's window rank + k*W (strided, as shard_position).
    const int64_t k = opt_.rank + (begin + i) * opt_.world_size;
    const int64_t start = window_start(c.epoch, k);
    b.indices[static_cast<size_t>(i)] = start;
    float* x = b.x.data() + i * t;
    int32_t* y = b.labels.data() + i * t;
    for (int64_t j = 0; j < t; ++j) {
      x[j] = static_cast<float>(tok[start + j]);
      y[j] = tok[start + j + 1];
    }
  }
  return b;
}

}  // namespace mp
