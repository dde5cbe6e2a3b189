// data_setup.h: a run's splits, opened and checked against its model — shared by training and
// --dry-run, so a dry run fails on exactly the data errors the run would (exit 3).
#pragma once
#include <memory>

#include "config/run_spec.h"
#include "data/split.h"
#include "nn/loss.h"
#include "nn/model.h"

namespace mp {

struct RunData {
  std::shared_ptr<const Split> train;
  std::shared_ptr<const Split> val;  // null when data.val.x is ""
  Shape input_shape;                 // model.input_shape, else the training samples' shape
};

// Opens data.train and data.val from data.file (DataError: missing file, dataset, damage, a
// missing filter, unwritten rows, ...), checks that both have the per-sample input shape the
// model will be built for and that their first and last samples can be read, and scans them
// for NaN/Inf when data.check_finite.
RunData open_run_data(const RunSpec& spec);

// The content checks that need the model: class labels in range and not all ignore_index
// (cross_entropy; ConfigError when its last layer is not one logit per class), or targets of
// the model's output shape (mse).
void check_run_data(const RunSpec& spec, const RunData& data, const Model& model, const Loss& loss);

}  // namespace mp
