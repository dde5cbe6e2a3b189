// data_loader.cpp: the batch stream — drop_last, epoch coverage, sharding across ranks, prefetch
// giving the same batches as synchronous loading, chunked == in-memory, exact resume from a saved
// cursor, and errors in the prefetch thread reaching the consumer.
#include "data/data_loader.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "data_test_files.h"

using namespace mp;
using mp::test::take;
using mp::test::TempDir;

namespace {
const SplitSpec kTrain{"/train/x", "/train/y"};

LoaderOptions opts(int64_t batch, bool shuffle, bool drop_last, int64_t prefetch) {
  LoaderOptions o;
  o.batch_size = batch;
  o.shuffle = shuffle;
  o.drop_last = drop_last;
  o.prefetch = prefetch;
  o.seed = 1234;
  return o;
}

void check_same(const Batch& a, const Batch& b) {
  CHECK(a.at == b.at);
  CHECK(a.indices == b.indices);
  CHECK(a.x == b.x);
  CHECK(a.labels == b.labels);
  CHECK(a.x_shape == b.x_shape);
  CHECK(a.last_in_epoch == b.last_in_epoch);
}

struct Fixture {
  TempDir dir;
  std::string path = dir.file("d.h5");
  Fixture() { mp::test::write_simple_split(path, 103, 5, 10, 4); }
};
}  // namespace

TEST_CASE("drop_last keeps only full batches; without it the last batch is short") {
  Fixture fx;
  auto split = Split::open(fx.path, kTrain, true);
  DataLoader dl(split, opts(10, true, true, 2));
  CHECK(dl.batches_per_epoch() == 10);
  CHECK(dl.samples_per_epoch() == 103);
  for (int i = 0; i < 10; ++i) {
    const Batch b = dl.next();
    CHECK(b.size == 10);
    CHECK(b.last_in_epoch == (i == 9));
  }
  CHECK(dl.cursor() == LoaderCursor{1, 0});

  DataLoader keep(split, opts(10, true, false, 0));
  CHECK(keep.batches_per_epoch() == 11);
  const auto bs = take(keep, 11);
  CHECK(bs[10].size == 3);
  CHECK(bs[10].num_real == 3);
  CHECK(bs[10].x_shape == Shape{3, 5});
  CHECK(bs[10].y_shape == Shape{3});
  CHECK(bs[10].labels.size() == 3);
  CHECK(bs[10].x.size() == 15);
  CHECK(bs[10].last_in_epoch);
}

TEST_CASE("every epoch visits every sample once, in a new order; batch contents match indices") {
  Fixture fx;
  DataLoader dl(Split::open(fx.path, kTrain, false), opts(8, true, false, 3));
  std::vector<std::vector<int64_t>> orders;
  for (int e = 0; e < 3; ++e) {
    std::vector<int64_t> order;
    for (int64_t i = 0; i < dl.batches_per_epoch(); ++i) {
      const Batch b = dl.next();
      CHECK(b.at.epoch == e);
      for (int64_t k = 0; k < b.size; ++k) {
        const int64_t idx = b.indices[static_cast<size_t>(k)];
        CHECK(mp::test::simple_row(&b.x[static_cast<size_t>(k * 5)]) == idx);
        CHECK(b.x[static_cast<size_t>(k * 5 + 4)] == static_cast<float>(idx) + 0.04f);
        CHECK(b.labels[static_cast<size_t>(k)] == idx % 10);
        order.push_back(idx);
      }
    }
    std::vector<int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < 103; ++i) CHECK(sorted[static_cast<size_t>(i)] == i);
    orders.push_back(order);
  }
  CHECK(orders[0] != orders[1]);
  CHECK(orders[1] != orders[2]);
}

TEST_CASE("shuffle off gives file order") {
  Fixture fx;
  DataLoader dl(Split::open(fx.path, kTrain, false), opts(50, false, true, 1));
  const Batch b = dl.next();
  for (int64_t k = 0; k < 50; ++k) CHECK(b.indices[static_cast<size_t>(k)] == k);
  CHECK(dl.next().indices[0] == 50);
  CHECK(dl.next().indices[0] == 0);  // epoch 1 starts over
}

TEST_CASE("prefetch, no prefetch, chunked and in-memory all give the same batches") {
  Fixture fx;
  auto mem = Split::open(fx.path, kTrain, true);
  auto file = Split::open(fx.path, kTrain, false);
  DataLoader ref(mem, opts(16, true, false, 0));
  DataLoader a(mem, opts(16, true, false, 4));
  DataLoader b(file, opts(16, true, false, 1));
  DataLoader c(file, opts(16, true, false, 0));
  for (int i = 0; i < 3 * 7 + 2; ++i) {
    const Batch r = ref.next();
    check_same(r, a.next());
    check_same(r, b.next());
    check_same(r, c.next());
  }
}

TEST_CASE("a saved cursor resumes the exact stream") {
  Fixture fx;
  auto split = Split::open(fx.path, kTrain, false);
  for (int64_t prefetch : {0, 2}) {
    CAPTURE(prefetch);
    DataLoader original(split, opts(10, true, true, prefetch));
    take(original, 13);  // into epoch 1
    const LoaderCursor saved = original.cursor();
    CHECK(saved == LoaderCursor{1, 3});
    const auto expected = take(original, 25);  // crosses two epoch boundaries

    DataLoader resumed(split, opts(10, true, true, prefetch), saved);
    CHECK(resumed.cursor() == saved);
    for (const Batch& e : expected) check_same(e, resumed.next());

    // seek() on a running loader (with batches already prefetched) restarts the stream too.
    resumed.seek(saved);
    for (const Batch& e : expected) check_same(e, resumed.next());
    resumed.seek({0, 0});
    DataLoader fresh(split, opts(10, true, true, prefetch));
    check_same(fresh.next(), resumed.next());
  }
}

TEST_CASE("ranks get disjoint batches, equal in number and size") {
  Fixture fx;
  auto split = Split::open(fx.path, kTrain, true);
  for (bool drop_last : {true, false}) {
    CAPTURE(drop_last);
    std::set<int64_t> real;
    int64_t real_count = 0;
    std::vector<int64_t> sizes0;
    for (int r = 0; r < 3; ++r) {
      LoaderOptions o = opts(8, true, drop_last, 2);
      o.rank = r;
      o.world_size = 3;
      DataLoader dl(split, o);
      CHECK(dl.batches_per_epoch() == (drop_last ? 34 / 8 : 5));
      std::vector<int64_t> sizes;
      for (int64_t i = 0; i < dl.batches_per_epoch(); ++i) {
        const Batch b = dl.next();
        sizes.push_back(b.size);
        for (int64_t k = 0; k < b.num_real; ++k) real.insert(b.indices[static_cast<size_t>(k)]);
        real_count += b.num_real;
      }
      if (r == 0) sizes0 = sizes;
      CHECK(sizes == sizes0);
    }
    CHECK(static_cast<int64_t>(real.size()) == real_count);  // disjoint
    if (!drop_last) CHECK(real_count == 103);                // covering
    else CHECK(real_count == 3 * 32);
  }
}

TEST_CASE("loader_options carries the data spec; input_scale reaches the batch") {
  Fixture fx;
  DataSpec spec;
  spec.batch_size = 4;
  spec.shuffle = false;
  spec.input_scale = 0.5;
  spec.prefetch = 1;
  const LoaderOptions o = loader_options(spec, 7, 1, 2);
  CHECK(o.batch_size == 4);
  CHECK(o.seed == 7);
  CHECK(o.rank == 1);
  CHECK(o.world_size == 2);
  DataLoader dl(Split::open(fx.path, kTrain, true), o);
  const Batch b = dl.next();
  CHECK(b.indices == std::vector<int64_t>{1, 3, 5, 7});
  CHECK(b.x[5] == 1.5f);  // sample 3, element 0, times 0.5
}

TEST_CASE("a read failure in the prefetch thread reaches next() as a DataError") {
  TempDir d;
  const std::string p = d.file("big.h5");
  mp::test::write_simple_split(p, 20000, 64, 10, 1);  // gzip'd chunks
  auto split = Split::open(p, kTrain, false);
  DataLoader dl(split, opts(256, false, true, 2));
  // The chunks are gone from under the open file: reading past the end yields zeros, which do
  // not inflate.
  std::filesystem::resize_file(p, 4096);
  const std::string msg = mp::test::data_error_message([&] {
    for (int i = 0; i < 100; ++i) dl.next();
  });
  CAPTURE(msg);
  CHECK(msg.find("big.h5") != std::string::npos);
  // Whichever dataset of the batch the thread was reading when the chunks vanished is named.
  CHECK((msg.find("/train/x") != std::string::npos || msg.find("/train/y") != std::string::npos));
  CHECK(msg.find("read failed") != std::string::npos);
}

TEST_CASE("destroying a loader with a full queue does not hang") {
  Fixture fx;
  auto split = Split::open(fx.path, kTrain, true);
  for (int i = 0; i < 20; ++i) {
    DataLoader dl(split, opts(4, true, true, 3));
    if (i % 2) {
      dl.next();
      CHECK(dl.cursor() == LoaderCursor{0, 1});
    }
  }  // each destructor must stop a producer blocked on the full queue
}
