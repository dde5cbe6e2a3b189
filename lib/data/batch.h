// batch.h: one batch as host buffers, the unit a DataLoader hands to the trainer, and the cursor
// that names a batch's position in the stream (saved in checkpoints to resume exactly).
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace mp {

// Position of a batch in a loader's stream: batch `batch` (0-based) of epoch `epoch` (0-based).
struct LoaderCursor {
  int64_t epoch = 0;
  int64_t batch = 0;
  bool operator==(const LoaderCursor&) const = default;
};

// The cursor after `c` in a stream of `batches_per_epoch` batches per epoch: the next batch, or
// batch 0 of the next epoch.
inline LoaderCursor next_cursor(LoaderCursor c, int64_t batches_per_epoch) {
  return c.batch + 1 >= batches_per_epoch ? LoaderCursor{c.epoch + 1, 0}
                                          : LoaderCursor{c.epoch, c.batch + 1};
}

struct Batch {
  LoaderCursor at;              // where this batch sits in the stream
  bool last_in_epoch = false;   // the epoch's final batch on this rank
  int64_t size = 0;             // samples B (the last batch of an epoch may be short)
  int64_t num_real = 0;         // leading samples that are not wrap-around padding from sharding
                                // (== size unless !drop_last and world_size does not divide N)
  Shape x_shape;                // [B, ...sample shape]
  std::vector<float> x;         // inputs times input_scale, row-major
  Shape y_shape;                // [B] for labels, [B, ...target shape] for targets
  std::vector<int32_t> labels;  // class labels (split has integer y), else empty
  std::vector<float> targets;   // regression targets (split has float y), else empty
  std::vector<int64_t> indices; // the samples' row numbers in the split
};

}  // namespace mp
