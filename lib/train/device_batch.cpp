#include "train/device_batch.h"

#include "nn/layer.h"

namespace mp {

void upload_batch(Backend& be, const Batch& b, DeviceBatch& db) {
  db.size = b.size;
  ensure_buffer(be, db.x, b.x_shape, DType::F32);
  be.upload(b.x.data(), db.x);
  if (!b.labels.empty()) {
    ensure_buffer(be, db.target, b.y_shape, DType::I32);
    be.upload(b.labels.data(), db.target);
  } else {
    ensure_buffer(be, db.target, b.y_shape, DType::F32);
    be.upload(b.targets.data(), db.target);
  }
}

}  // namespace mp
