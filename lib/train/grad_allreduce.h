// grad_allreduce.h: the data-parallel gradient reduction, once per optimizer step after the
// last micro-batch and before optimizer_step (docs/ARCHITECTURE.md "The optimizer step").
// Every rank's fp32 gradients hold its samples' share of the step's mean (each micro-batch's
// loss gradient was scaled by S / N with N counted over all ranks, step_normalisation.h), so
// their SUM over ranks is the gradient of one process that saw the whole global batch.
// The constructor moves the parameters' gradients into one flat fp32 buffer (the flat gradient
// space: each Parameter::grad becomes a view at its offset, in list order), cut into a few buckets
// (at most kBucketElements each, parameters kept whole) and each bucket is reduced by one
// collective call, in place for an fp32 payload (no packing copies, as PyTorch DDP's
// gradient_as_bucket_view):
//   run()            all-reduce: every rank gets the whole sum (dist.zero: 0)
//   reduce_scatter() every rank gets the sum of its shard of each bucket only, in shard_grad()
//                    (dist.zero: 1, zero_optimizer.h): shard_range(bucket numel, world, rank)
//                    of the bucket's flat element space, so a parameter may straddle two ranks.
// Payload (precision.allreduce_dtype):
//   fp32: summed in fp32 in place. With two ranks the sum a + b is the only
//        rounding, so 2 ranks x batch B equal 1 rank x batch 2B up to the order of the GEMM's
//        fp32 accumulation; reduce-scatter adds the same two values as the all-reduce.
//   bf16: each gradient rounded once to bf16 (RNE) into a bucket buffer, widened and summed in fp32
//        by the communicator and rounded back to bf16 once, then widened exactly into the fp32
//        gradient. Lossy: about 2^-9 relative per element, twice; half the bytes on the wire.
// The time spent in the collectives (with the bf16 casts) is accumulated for the benchmark
// (comm_seconds: summary.json comm_s_per_step).
#pragma once
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "dist/communicator.h"
#include "nn/parameter.h"

namespace mp {

// kBucketElements, or MPTRAIN_DIST_BUCKET_ELEMENTS when set (a positive integer; a testing aid:
// tests/dist splits a small model into several buckets with it). ConfigError for a bad value.
int64_t bucket_elements_from_env();

class GradAllReduce {
 public:
  static constexpr int64_t kBucketElements = int64_t{1} << 24;  // 64 MiB of fp32

  // One bucket: parameters [first, end) of the list, `numel` elements from `offset` of the flat
  // gradient space (the parameters' elements concatenated in list order).
  struct Group {
    size_t first = 0, end = 0;
    int64_t offset = 0, numel = 0;
  };

  // `payload`: DType::F32 or DType::BF16 (DTypePolicy::allreduce). `bucket_elements`: tests
  // pass a small value to get several buckets from a small model (bucket_elements_from_env).
  GradAllReduce(Backend& be, dist::Communicator& comm, const ParamList& params, DType payload,
                int64_t bucket_elements = kBucketElements);
  // The parameters' grads must stay the views the constructor made (nothing re-seats them).
  // grads = SUM over ranks, in place. Every rank calls it.
  void run();
  // shard_grad() = SUM over ranks of this rank's shard of every bucket, in bucket order (fp32);
  // the parameters' grads are left as they were (the caller zeroes them: zero_grads()).
  void reduce_scatter();
  // Every gradient = 0, in one fill of the flat space.
  void zero_grads();
  // This rank's shard of every bucket, concatenated in bucket order (fp32; allocated on first use).
  Tensor& shard_grad();

  int64_t buckets() const { return static_cast<int64_t>(groups_.size()); }
  const std::vector<Group>& groups() const { return groups_; }
  dist::Communicator& comm() { return comm_; }
  // Seconds spent in run()/reduce_scatter() (and in add_comm_seconds()) so far.
  double comm_seconds() const { return comm_seconds_; }
  void add_comm_seconds(double s) { comm_seconds_ += s; }

 private:
  // The group's gradients: its range of the flat space.
  Tensor group_grads(const Group& g) const;
  // bf16 payload: casts the group's gradients into the bucket (in) or back (!in).
  void move(const Group& g, bool in);

  Backend& be_;
  dist::Communicator& comm_;
  DType payload_;
  std::vector<Group> groups_;
  Tensor flat_;        // the flat gradient space (fp32): every parameter's grad is a view of it
  Tensor bucket_;      // bf16 payload: the largest group's numel, in bf16
  Tensor shard_grad_;  // reduce_scatter's result (fp32), allocated on first use
  Tensor shard_tmp_;   // bf16 payload: the shard before widening
  double comm_seconds_ = 0.0;
};

}  // namespace mp
