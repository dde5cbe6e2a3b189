// batch_maker.cpp: one batch from (split, options, cursor).
#include "data/batch_maker.h"

#include <algorithm>
#include <new>

#include "core/error.h"

namespace mp {

BatchMaker::BatchMaker(std::shared_ptr<const Split> split, const LoaderOptions& opt)
    : split_(std::move(split)), opt_(opt) {
  MP_CHECK(split_ != nullptr, "BatchMaker: null split");
  check_loader_options(opt_, "BatchMaker");
  const int64_t n = split_->size();
  plan_ = shard_plan(n, opt_.world_size, opt_.batch_size, opt_.drop_last);
  real_count_ = shard_real_count(n, opt_.rank, opt_.world_size, opt_.drop_last);
  split_->check_label_layout();
  if (opt_.shuffle && n > kMaxShuffledSamples) {
    throw DataError(split_->file() + ": dataset " + split_->paths().x + ": " + std::to_string(n) +
                    " samples are more than a shuffled split may hold (" +
                    std::to_string(kMaxShuffledSamples) + ": the epoch order takes 4 bytes per "
                    "sample, 1 GiB at that size); if the dataset really holds that many, shuffle "
                    "the file once and set data.shuffle: false (no order is stored then), or split "
                    "it into smaller files");
  }
  if (plan_.batches == 0) {
    const std::string share =
        opt_.world_size == 1
            ? std::to_string(n) + " samples"
            : std::to_string(plan_.per_rank) + " samples per rank (" + std::to_string(n) +
                  " samples over world_size " + std::to_string(opt_.world_size) + ")";
    throw DataError(split_->file() + ": split " + split_->paths().x + ": batch_size " +
                    std::to_string(opt_.batch_size) + " is larger than the split's " + share +
                    ", so with drop_last an epoch has no batch; lower data.batch_size or set "
                    "data.drop_last: false");
  }
}

void check_loader_options(const LoaderOptions& opt, const char* who) {
  MP_CHECK(opt.batch_size >= 1, std::string(who) + ": batch_size must be >= 1");
  MP_CHECK(opt.world_size >= 1 && 0 <= opt.rank && opt.rank < opt.world_size,
           std::string(who) + ": rank must be in [0, world_size)");
}

LoaderCursor BatchMaker::advance(LoaderCursor c) const { return next_cursor(c, plan_.batches); }

Batch BatchMaker::make(LoaderCursor c) {
  MP_CHECK(c.epoch >= 0 && c.batch >= 0 && c.batch < plan_.batches, "BatchMaker: bad cursor");
  const int64_t n = split_->size();
  if (c.epoch != cached_epoch_) {
    order_ = EpochOrder();  // free the last epoch's order before building the next
    try {
      order_ = EpochOrder(n, opt_.seed, c.epoch, opt_.shuffle);
    } catch (const std::bad_alloc&) {
      throw DataError(split_->file() + ": dataset " + split_->paths().x + ": out of memory for "
                      "the epoch order of " + std::to_string(n) + " samples (" +
                      std::to_string((n * 4) >> 20) + " MiB); free memory, or shuffle the file "
                      "once and set data.shuffle: false");
    }
    cached_epoch_ = c.epoch;
  }
  Batch b = batch_at(c, plan_, opt_.batch_size, real_count_);
  const int64_t begin = c.batch * opt_.batch_size;
  b.indices.resize(static_cast<size_t>(b.size));
  for (int64_t i = 0; i < b.size; ++i)
    b.indices[static_cast<size_t>(i)] =
        order_[shard_position(begin + i, opt_.rank, opt_.world_size, n)];

  const Split& s = *split_;
  b.x_shape = s.sample_shape();
  b.x_shape.insert(b.x_shape.begin(), b.size);
  b.x.resize(static_cast<size_t>(b.size * s.sample_numel()));
  b.y_shape = s.target_shape();
  b.y_shape.insert(b.y_shape.begin(), b.size);
  int32_t* labels = nullptr;
  float* targets = nullptr;
  if (s.has_labels()) {
    // One label per sample: [B]; token labels (y [N, T] like x): [B, T].
    if (s.target_numel() == 1) b.y_shape = {b.size};
    b.labels.resize(static_cast<size_t>(b.size * s.target_numel()));
    labels = b.labels.data();
  } else {
    b.targets.resize(static_cast<size_t>(b.size * s.target_numel()));
    targets = b.targets.data();
  }
  s.read(b.indices.data(), b.indices.size(), opt_.input_scale, b.x.data(), labels, targets);
  return b;
}

Batch batch_at(LoaderCursor c, const ShardPlan& plan, int64_t batch_size, int64_t real_count) {
  Batch b;
  b.at = c;
  b.last_in_epoch = c.batch + 1 == plan.batches;
  const int64_t begin = c.batch * batch_size;
  b.size = std::min(batch_size, plan.per_rank - begin);
  b.num_real = std::clamp<int64_t>(real_count - begin, 0, b.size);
  return b;
}

void drop_padding_rows(Batch& b) {
  if (b.num_real == b.size) return;
  MP_CHECK(b.size > 0 && 0 <= b.num_real && b.num_real < b.size, "drop_padding_rows: bad batch");
  const auto keep = static_cast<size_t>(b.num_real);
  b.x.resize(b.x.size() / static_cast<size_t>(b.size) * keep);
  if (!b.targets.empty()) b.targets.resize(b.targets.size() / static_cast<size_t>(b.size) * keep);
  if (!b.labels.empty()) b.labels.resize(b.labels.size() / static_cast<size_t>(b.size) * keep);  // [B] or [B, T]
  b.indices.resize(keep);
  b.size = b.x_shape[0] = b.y_shape[0] = b.num_real;
}

}  // namespace mp
