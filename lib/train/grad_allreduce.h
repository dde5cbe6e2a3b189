// grad_allreduce.h: the data-parallel gradient all-reduce, once per optimizer step after the
// last micro-batch and before optimizer_step (docs/ARCHITECTURE.md "The optimizer step").
// Every rank's fp32 gradients hold its samples' share of the step's mean (each micro-batch's
// loss gradient was scaled by S / N with N counted over all ranks, step_normalisation.h), so
// their SUM over ranks is the gradient of one process that saw the whole global batch.
// The parameters' gradients are packed into a few flat buckets (at most kBucketElements each,
// parameters kept whole, in model order) and each bucket is reduced by one collective call:
//   fp32 (precision.allreduce_dtype: fp32): copied in, summed in fp32, copied back. With two
//        ranks the sum a + b is the only rounding, so 2 ranks x batch B equal 1 rank x batch 2B
//        up to the order of the GEMM's fp32 accumulation.
//   bf16: each gradient rounded once to bf16 (RNE) into the bucket, widened and summed in fp32
//        by the communicator and rounded back to bf16 once, then widened exactly into the fp32
//        gradient. Lossy: about 2^-9 relative per element, twice; half the bytes on the wire.
#pragma once
#include <cstdint>

#include "backend/backend.h"
#include "dist/communicator.h"
#include "nn/parameter.h"

namespace mp {

class GradAllReduce {
 public:
  static constexpr int64_t kBucketElements = int64_t{1} << 24;  // 64 MiB of fp32

  // `payload`: DType::F32 or DType::BF16 (DTypePolicy::allreduce).
  GradAllReduce(Backend& be, dist::Communicator& comm, const ParamList& params, DType payload);
  // grads = SUM over ranks, in place. Every rank calls it with the same parameter list.
  void run(const ParamList& params);
  int64_t buckets() const { return static_cast<int64_t>(groups_.size()); }

 private:
  struct Group {
    size_t first = 0, end = 0;  // parameter indices [first, end)
    int64_t numel = 0;
  };
  Backend& be_;
  dist::Communicator& comm_;
  DType payload_;
  std::vector<Group> groups_;
  Tensor bucket_;  // the largest group's numel, in payload_
};

}  // namespace mp
