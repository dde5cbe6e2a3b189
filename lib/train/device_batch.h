// device_batch.h: a host Batch (data/batch.h) copied into reusable device tensors: inputs as
// fp32 [B, ...] (the first layer casts to its compute dtype), labels int32 [B] or fp32 targets.
#pragma once
#include "backend/backend.h"
#include "data/batch.h"

namespace mp {

struct DeviceBatch {
  Tensor x;       // fp32 inputs
  Tensor target;  // int32 labels or fp32 targets
  int64_t size = 0;
};

// Uploads `b` into `db`, growing its buffers only when a batch is larger than any before.
void upload_batch(Backend& be, const Batch& b, DeviceBatch& db);

}  // namespace mp
