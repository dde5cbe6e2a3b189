// data_token_labels.cpp: pre-windowed token data in the samples layout: integer y [N, T] shaped
// like x [N, T] (one next-token label per input position) opens, reads T labels per sample, batches
// as labels [B, T] (also after dropping sharding padding), and is checked against the model's
// [T, vocab] output (labels per sample, range with sample and position); y of another shape is a
// DataError when batches are made.
#include "data/batch_maker.h"
#include "data/split.h"
#include "unit/data_test_files.h"

using namespace mp;
using namespace mp::test;

namespace {

// x [n, T] token ids (float32) with x[i][t] = (i + t) % vocab, y [n, T'] int32 = x shifted by 1.
void write_tokens(const std::string& path, int64_t n, int64_t T, int64_t vocab, int64_t y_T) {
  std::vector<float> x(static_cast<size_t>(n * T));
  std::vector<int32_t> y(static_cast<size_t>(n * y_T));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t t = 0; t < T; ++t) x[static_cast<size_t>(i * T + t)] = static_cast<float>((i + t) % vocab);
    for (int64_t t = 0; t < y_T; ++t) y[static_cast<size_t>(i * y_T + t)] = static_cast<int32_t>((i + t + 1) % vocab);
  }
  H5Handle f = h5_create(path);
  h5_write(f.get(), "/train/x", {n, T}, x.data());
  h5_write(f.get(), "/train/y", {n, y_T}, y.data());
}

}  // namespace

TEST_CASE("token labels [N, T]: read, batched as [B, T], padding dropped per sample") {
  TempDir d;
  write_tokens(d.file("tok.h5"), 10, 4, 7, 4);
  auto s = Split::open(d.file("tok.h5"), kTrainSplit, false);
  CHECK(s->has_labels());
  CHECK(s->target_numel() == 4);
  s->check_labels(7, -100, 4);
  s->check_readable();
  LoaderOptions lo;
  lo.batch_size = 4;
  lo.shuffle = false;
  lo.drop_last = false;
  lo.world_size = 3;  // 10 samples over 3 ranks: the last batch of rank 2 carries padding
  lo.rank = 2;
  BatchMaker bm(s, lo);
  Batch b = bm.make({0, 0});
  CHECK(b.y_shape == Shape{b.size, 4});
  REQUIRE(b.labels.size() == static_cast<size_t>(b.size * 4));
  for (int64_t k = 0; k < b.size; ++k) {
    const int64_t i = b.indices[static_cast<size_t>(k)];
    for (int64_t t = 0; t < 4; ++t)
      CHECK(b.labels[static_cast<size_t>(k * 4 + t)] == (i + t + 1) % 7);
  }
  REQUIRE(b.num_real < b.size);
  drop_padding_rows(b);
  CHECK(b.labels.size() == static_cast<size_t>(b.size * 4));
  CHECK(b.y_shape == Shape{b.size, 4});
}

TEST_CASE("token labels: shape and range errors name the dataset, sample and position") {
  TempDir d;
  write_tokens(d.file("short.h5"), 6, 5, 9, 4);
  check_has(data_error_message([&] { BatchMaker(Split::open(d.file("short.h5"), kTrainSplit, false), {}); }),
            {"dataset /train/y: expected one integer label per sample (shape [N] or [N, 1]) or one per input token",
             "(shape [N, T] like /train/x [6, 5]), found shape [6, 4]"});
  write_tokens(d.file("tok.h5"), 6, 5, 9, 5);
  auto s = Split::open(d.file("tok.h5"), kTrainSplit, false);
  // the model predicts 8 classes; x[i][t] + 1 reaches 8 first at sample 3, position 4
  check_has(data_error_message([&] { s->check_labels(8, -100, 5); }),
            {"label 8 at sample 3, position 4 is out of range: expected 0..7"});
  // a model with [3, vocab] outputs (input_shape T = 3 against data T = 5)
  check_has(data_error_message([&] { s->check_labels(9, -100, 3); }),
            {"expected 3 integer labels per sample (one per position of the model's [3, 9] output"});
  // a classifier (one label per sample) against token labels
  check_has(data_error_message([&] { s->check_labels(9, -100, 1); }),
            {"expected one integer label per sample (shape [N] or [N, 1]), found shape [6, 5]"});
}
