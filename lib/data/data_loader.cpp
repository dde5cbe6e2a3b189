// data_loader.cpp: cursor bookkeeping and the prefetch thread of DataLoader.
#include "data/data_loader.h"

#include "core/error.h"

namespace mp {

LoaderOptions loader_options(const DataSpec& spec, uint64_t seed, int rank, int world_size) {
  LoaderOptions o;
  o.batch_size = spec.batch_size;
  o.shuffle = spec.shuffle;
  o.drop_last = spec.drop_last;
  o.prefetch = spec.prefetch;
  o.input_scale = spec.input_scale;
  o.seed = seed;
  o.rank = rank;
  o.world_size = world_size;
  o.context = spec.context;
  return o;
}

DataLoader::DataLoader(std::shared_ptr<const Split> split, const LoaderOptions& opt,
                       LoaderCursor start)
    : DataLoader(BatchMaker(split, opt), split, split->file() + ": split " + split->paths().x, opt,
                 start) {}

DataLoader::DataLoader(std::shared_ptr<const TokenStream> tokens, const LoaderOptions& opt,
                       LoaderCursor start)
    : DataLoader(TokenBatchMaker(tokens, opt), nullptr,
                 tokens->file() + ": token stream " + tokens->path(), opt, start) {}

DataLoader::DataLoader(Maker maker, std::shared_ptr<const Split> split, std::string source,
                       const LoaderOptions& opt, LoaderCursor start)
    : split_(std::move(split)), source_(std::move(source)), opt_(opt), maker_(std::move(maker)) {
  MP_CHECK(opt_.prefetch >= 0, "DataLoader: prefetch must be >= 0");
  seek(start);
}

const ShardPlan& DataLoader::plan() const {
  return std::visit([](const auto& m) -> const ShardPlan& { return m.plan(); }, maker_);
}

const Split& DataLoader::split() const {
  MP_CHECK(split_ != nullptr, "DataLoader::split: a token-stream loader has no split");
  return *split_;
}

DataLoader::~DataLoader() { stop_thread(); }

void DataLoader::seek(LoaderCursor c) {
  const int64_t per_epoch = batches_per_epoch();
  if (c.epoch < 0 || c.batch < 0 || c.batch > per_epoch) {
    throw DataError(source_ + ": cannot resume at epoch " +
                    std::to_string(c.epoch) + ", batch " + std::to_string(c.batch) +
                    ": expected a batch in 0.." + std::to_string(per_epoch - 1) +
                    " (this loader makes " + std::to_string(per_epoch) +
                    " batches per epoch); the checkpoint was written with a different data set, "
                    "batch size, context or world size — resume with the same settings or start "
                    "afresh");
  }
  if (c.batch == per_epoch) c = {c.epoch + 1, 0};
  stop_thread();
  cursor_ = c;
  if (opt_.prefetch > 0) start_thread();
}

void DataLoader::start_thread() {
  queue_ = std::make_unique<BoundedQueue<Batch>>(static_cast<size_t>(opt_.prefetch));
  thread_ = std::thread([q = queue_.get(), maker = maker_, c = cursor_]() mutable {
    try {
      for (;; c = std::visit([&](auto& m) { return m.advance(c); }, maker)) {
        if (!q->push(std::visit([&](auto& m) { return m.make(c); }, maker))) return;
      }
    } catch (...) {
      q->fail(std::current_exception());
    }
  });
}

void DataLoader::stop_thread() {
  if (queue_) queue_->close();
  if (thread_.joinable()) thread_.join();
  queue_.reset();
}

Batch DataLoader::next() {
  Batch b;
  if (queue_) {
    auto v = queue_->pop();
    MP_CHECK(v.has_value(), "DataLoader: prefetch queue closed while in use");
    b = std::move(*v);
    MP_CHECK(b.at == cursor_, "DataLoader: prefetch thread out of step with the cursor");
  } else {
    b = std::visit([&](auto& m) { return m.make(cursor_); }, maker_);
  }
  cursor_ = std::visit([&](auto& m) { return m.advance(cursor_); }, maker_);
  return b;
}

}  // namespace mp
