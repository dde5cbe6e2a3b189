// data_token_windows.cpp: the token-window loader (data.format: tokens) — inputs and labels at
// exact offsets of the stream, random windows per (seed, epoch, draw), the in-order windows of
// validation, exact resume with and without prefetch, sharding across ranks, padding removal,
// and the DataErrors of a bad token file.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>

#include "data/data_loader.h"
#include "data/token_stream.h"
#include "data/token_windows.h"
#include "data_test_files.h"

using namespace mp;
using mp::test::check_has;
using mp::test::data_error_message;
using mp::test::take;
using mp::test::TempDir;

namespace {

constexpr int32_t kVocab = 61;

// Token at position p of the test stream: a sequence with period 61*... so offsets are checkable.
int32_t tok_at(int64_t p) { return static_cast<int32_t>((p * 7 + p / 61) % kVocab); }

// /vocab int32 [61] (code points 'A' + i) and /train/tokens uint8 [len].
void write_token_file(const std::string& path, int64_t len, bool with_vocab = true) {
  std::vector<uint8_t> t(static_cast<size_t>(len));
  for (int64_t p = 0; p < len; ++p) t[static_cast<size_t>(p)] = static_cast<uint8_t>(tok_at(p));
  std::vector<int32_t> v(kVocab);
  for (int32_t i = 0; i < kVocab; ++i) v[static_cast<size_t>(i)] = 'A' + i;
  H5Handle f = h5_create(path);
  if (with_vocab) h5_write(f.get(), "/vocab", {kVocab}, v.data());
  h5_write(f.get(), "/train/tokens", {len}, t.data(), 6);
}

LoaderOptions opts(int64_t batch, int64_t context, bool shuffle, int64_t prefetch, int rank = 0,
                   int world = 1, bool drop_last = true) {
  LoaderOptions o;
  o.batch_size = batch;
  o.context = context;
  o.shuffle = shuffle;
  o.drop_last = drop_last;
  o.prefetch = prefetch;
  o.seed = 99;
  o.rank = rank;
  o.world_size = world;
  return o;
}

// Every row of b is the window of T + 1 tokens starting at b.indices[i]: x its first T, labels
// its last T.
void check_windows(const Batch& b, int64_t t, int64_t len) {
  REQUIRE(b.x_shape == Shape{b.size, t});
  REQUIRE(b.y_shape == Shape{b.size, t});
  REQUIRE(b.x.size() == static_cast<size_t>(b.size * t));
  REQUIRE(b.labels.size() == static_cast<size_t>(b.size * t));
  CHECK(b.targets.empty());
  for (int64_t i = 0; i < b.size; ++i) {
    const int64_t s = b.indices[static_cast<size_t>(i)];
    REQUIRE(s >= 0);
    REQUIRE(s + t < len);  // the label of the last position exists
    for (int64_t j = 0; j < t; ++j) {
      CHECK(b.x[static_cast<size_t>(i * t + j)] == static_cast<float>(tok_at(s + j)));
      CHECK(b.labels[static_cast<size_t>(i * t + j)] == tok_at(s + j + 1));
    }
  }
}

struct Fixture {
  TempDir dir;
  std::string path = dir.file("tok.h5");
  int64_t len = 5000;
  Fixture() { write_token_file(path, len); }
  std::shared_ptr<const TokenStream> stream() const {
    return TokenStream::open(path, "/train/tokens", "training");
  }
};

}  // namespace

TEST_CASE("token stream: vocabulary size, tokens and the context check") {
  Fixture fx;
  auto s = fx.stream();
  CHECK(s->size() == fx.len);
  CHECK(s->vocab_size() == kVocab);
  for (int64_t p : {0, 1, 60, 61, 4999}) CHECK(s->data()[p] == tok_at(p));
  CHECK(read_token_vocab(fx.path).at(2) == 'C');
  CHECK_NOTHROW(s->check_context(fx.len - 1));
  check_has(data_error_message([&] { s->check_context(fx.len); }),
            {fx.path.c_str(), "/train/tokens", "data.context 5000", "5001 tokens", "holds 5000"});
}

TEST_CASE("token windows: random windows hold x = w[0:T] and labels = w[1:T+1] exactly") {
  Fixture fx;
  const int64_t t = 16;
  DataLoader dl(fx.stream(), opts(8, t, true, 2));
  // An epoch is floor(L / T) windows: floor(5000 / 16) = 312, 39 batches of 8.
  CHECK(dl.batches_per_epoch() == 312 / 8);
  std::set<int64_t> starts;
  for (const Batch& b : take(dl, 80)) {  // two epochs and a bit
    check_windows(b, t, fx.len);
    CHECK(b.num_real == b.size);
    starts.insert(b.indices.begin(), b.indices.end());
  }
  // Random starts, not multiples of T: most of 640 draws over 4984 starts are distinct.
  CHECK(starts.size() > 550);
  CHECK(std::any_of(starts.begin(), starts.end(), [&](int64_t s) { return s % t != 0; }));
  CHECK(*starts.rbegin() <= fx.len - t - 1);
}

TEST_CASE("token windows: same seed same windows, other seed or epoch other windows") {
  Fixture fx;
  auto s = fx.stream();
  TokenBatchMaker a(s, opts(4, 10, true, 0)), b(s, opts(4, 10, true, 0));
  LoaderOptions other = opts(4, 10, true, 0);
  other.seed = 100;
  TokenBatchMaker c(s, other);
  CHECK(a.make({0, 3}).indices == b.make({0, 3}).indices);
  CHECK(a.make({2, 5}).x == b.make({2, 5}).x);
  CHECK(a.make({0, 3}).indices != c.make({0, 3}).indices);
  CHECK(a.make({0, 3}).indices != a.make({1, 3}).indices);  // epochs differ
  CHECK(a.make({0, 3}).indices != a.make({0, 4}).indices);  // batches differ
}

TEST_CASE("token windows: in order (validation) = the non-overlapping windows 0, T, 2T, ...") {
  Fixture fx;
  const int64_t t = 64;
  // floor((5000 - 1) / 64) = 78 windows; batch 10 without drop_last: 8 batches, the last of 8.
  DataLoader dl(fx.stream(), opts(10, t, false, 1, 0, 1, false));
  CHECK(dl.batches_per_epoch() == 8);
  std::vector<int64_t> starts;
  for (const Batch& b : take(dl, 8)) {
    check_windows(b, t, fx.len);
    starts.insert(starts.end(), b.indices.begin(), b.indices.end());
  }
  REQUIRE(starts.size() == 78);
  for (size_t k = 0; k < starts.size(); ++k) CHECK(starts[k] == static_cast<int64_t>(k) * t);
  CHECK(dl.next().indices.front() == 0);  // the next epoch is the same windows again
}

TEST_CASE("token windows: a resumed loader continues with exactly the same batches") {
  Fixture fx;
  auto s = fx.stream();
  for (int64_t prefetch : {0, 1, 3}) {
    CAPTURE(prefetch);
    DataLoader original(s, opts(6, 12, true, prefetch));
    const int64_t per_epoch = original.batches_per_epoch();  // 416 windows / 6 = 69
    const std::vector<Batch> first = take(original, per_epoch - 2);
    const LoaderCursor saved = original.cursor();
    const std::vector<Batch> rest = take(original, 5);  // crosses into epoch 1
    CHECK(rest.back().at.epoch == 1);
    DataLoader resumed(s, opts(6, 12, true, prefetch), saved);
    const std::vector<Batch> again = take(resumed, 5);
    for (size_t i = 0; i < rest.size(); ++i) {
      CHECK(again[i].at == rest[i].at);
      CHECK(again[i].indices == rest[i].indices);
      CHECK(again[i].x == rest[i].x);
      CHECK(again[i].labels == rest[i].labels);
    }
    original.seek(saved);
    CHECK(original.next().indices == rest[0].indices);
  }
  DataLoader dl(s, opts(6, 12, true, 0));
  check_has(data_error_message([&] { dl.seek({0, 70}); }),
            {fx.path.c_str(), "token stream /train/tokens", "cannot resume at epoch 0, batch 70",
             "0..68", "context"});
}

TEST_CASE("token windows: W ranks x batch B draw exactly the windows of one process x batch W*B") {
  Fixture fx;
  auto s = fx.stream();
  const int world = 3;
  for (bool shuffle : {true, false}) {
    CAPTURE(shuffle);
    TokenBatchMaker one(s, opts(12, 8, shuffle, 0, 0, 1));
    std::vector<TokenBatchMaker> ranks;
    for (int r = 0; r < world; ++r) ranks.emplace_back(s, opts(4, 8, shuffle, 0, r, world));
    CHECK(ranks[0].plan().batches == one.plan().batches);
    for (LoaderCursor c : {LoaderCursor{0, 0}, LoaderCursor{0, 7}, LoaderCursor{2, 3}}) {
      std::multiset<int64_t> whole, parts;
      const Batch b1 = one.make(c);
      whole.insert(b1.indices.begin(), b1.indices.end());
      std::set<int64_t> seen_by_rank0;
      for (int r = 0; r < world; ++r) {
        const Batch br = ranks[static_cast<size_t>(r)].make(c);
        check_windows(br, 8, fx.len);
        parts.insert(br.indices.begin(), br.indices.end());
        if (r == 0) seen_by_rank0.insert(br.indices.begin(), br.indices.end());
        else if (!shuffle)  // in order: the ranks' windows are disjoint
          for (int64_t i : br.indices) CHECK(seen_by_rank0.count(i) == 0);
      }
      CHECK(parts == whole);
    }
  }
}

TEST_CASE("token windows: padding rows of the in-order windows are dropped with their T labels") {
  Fixture fx;
  // 78 windows of 64 over 4 ranks, no drop_last: 20 per rank; rank 3 takes windows 3, 7, ..., 75
  // (19 real) and wraps around to window 1 (padding).
  DataLoader dl(fx.stream(), opts(20, 64, false, 0, 3, 4, false));
  Batch b = dl.next();
  CHECK(b.size == 20);
  CHECK(b.num_real == 19);
  CHECK(b.indices.back() == 1 * 64);
  drop_padding_rows(b);
  CHECK(b.size == 19);
  CHECK(b.x_shape == Shape{19, 64});
  CHECK(b.y_shape == Shape{19, 64});
  CHECK(b.labels.size() == 19u * 64u);
  CHECK(b.indices.back() == 75 * 64);
  check_windows(b, 64, fx.len);
}

TEST_CASE("token windows: bad token files are DataErrors naming file and dataset") {
  TempDir dir;
  const std::string p = dir.file("t.h5");
  write_token_file(p, 300);
  check_has(data_error_message([&] { TokenStream(p, "/val/tokens", "validation"); }),
            {p.c_str(), "/val/tokens"});
  const std::string nov = dir.file("novocab.h5");
  write_token_file(nov, 300, false);
  check_has(data_error_message([&] { TokenStream(nov, "/train/tokens"); }), {nov.c_str(), "/vocab"});
  check_has(data_error_message([&] { read_token_vocab(nov); }), {nov.c_str(), "/vocab"});

  const std::string bad = dir.file("bad.h5");
  {
    std::vector<int32_t> v = {65, 66, 67}, t = {0, 1, 2, 1, 3, 0}, t2 = {0, 1, 2, 3};
    std::vector<float> f = {0, 1, 2};
    H5Handle f5 = h5_create(bad);
    h5_write(f5.get(), "/vocab", {3}, v.data());
    h5_write(f5.get(), "/train/tokens", {6}, t.data());
    h5_write(f5.get(), "/two_d", {2, 2}, t2.data());
    h5_write(f5.get(), "/floats", {3}, f.data());
  }
  check_has(data_error_message([&] { TokenStream(bad, "/train/tokens"); }),
            {bad.c_str(), "/train/tokens", "token 3 at position 4", "expected 0..2", "/vocab has 3"});
  check_has(data_error_message([&] { TokenStream(bad, "/two_d"); }), {"/two_d", "1-D integer", "[2, 2]"});
  check_has(data_error_message([&] { TokenStream(bad, "/floats"); }), {"/floats", "1-D integer", "float32"});

  auto s = TokenStream::open(p, "/train/tokens", "training");
  check_has(data_error_message([&] { DataLoader l(s, opts(4, 300, true, 0)); }),
            {"data.context 300", "holds 300"});
  // floor(300 / 50) = 6 windows per epoch: a batch of 8 never fills.
  check_has(data_error_message([&] { DataLoader l(s, opts(8, 50, true, 0)); }),
            {p.c_str(), "batch_size 8", "6 windows of 50 tokens"});
}
