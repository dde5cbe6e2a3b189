// data_setup.h: a run's splits, opened and checked against its model — shared by training and
// --dry-run, so a dry run fails on exactly the data errors the run would (exit 3).
#pragma once
#include <memory>

#include "config/run_spec.h"
#include "data/split.h"
#include "data/token_stream.h"
#include "nn/loss.h"
#include "nn/model.h"

namespace mp {

struct RunData {
  std::shared_ptr<const Split> train;
  std::shared_ptr<const Split> val;  // null when data.val.x is ""
  // data.format: tokens: the streams instead of the splits (train, val above are null).
  std::shared_ptr<const TokenStream> train_tokens, val_tokens;
  Shape input_shape;                 // model.input_shape, else the training samples' shape
  int64_t train_size() const { return train ? train->size() : train_tokens->size(); }
  int64_t val_size() const { return val ? val->size() : val_tokens ? val_tokens->size() : 0; }
};

// Opens data.train and data.val from data.file (DataError: missing file, dataset, damage, a
// missing filter, unwritten rows, ...), checks that both have the per-sample input shape the
// model will be built for and that their first and last samples can be read, and scans them
// for NaN/Inf when data.check_finite. data.format: tokens: opens the token streams instead,
// each checked against /vocab and data.context (token_stream.h).
RunData open_run_data(const RunSpec& spec);

// The content checks that need the model: class labels in range and not all ignore_index
// (cross_entropy; ConfigError when its last layer is not one logit per class), or targets of
// the model's output shape (mse).
void check_run_data(const RunSpec& spec, const RunData& data, const Model& model, const Loss& loss);

}  // namespace mp
