// zero_optimizer.h: ZeRO-1 optimizer-state sharding (dist.zero: 1; docs/ARCHITECTURE.md
// "Data parallelism"). Each rank owns a contiguous shard of each gradient bucket's flat element
// space (GradAllReduce::Group; dist::shard_range, so shards differ by at most one element per
// bucket) and keeps optimizer state (moments, momentum) for those elements only: state memory
// is 1/world of one process's. A parameter may straddle two ranks; each rank's piece of it is a
// view Parameter (the same name, a flat range of its master/working, a range of the
// reduce-scattered gradient) that the ordinary Optimizer updates element-wise.
//
// One step (step()):
//   reduce-scatter the gradients (GradAllReduce::reduce_scatter; the full grads are zeroed)
//   -> optimizer_step over this rank's views: found_inf MAXed over ranks (every rank skips
//      together), the sum of squares for the global norm summed over ranks in fp64 in rank
//      order (every rank gets the same norm, so the same clip coefficient), the fused update
//   -> all-gather the updated masters bucket by bucket, in place in the flat master buffer the
//      constructor moved every master into, and recast the working copies; or, with mixed
//      precision (fp32 masters, every working copy its own 16-bit tensor), all-gather the working
//      copies in place instead (half the bytes; the fused update wrote this rank's working
//      elements), leaving each rank's masters current in its own shards only: gather_state (the
//      checkpoint) all-gathers them first, so /params hold whole, current masters.
// Numerics against dist.zero: 0: every element sees the same gradient sum (two ranks: a + b
// either way) and the same element-wise update, so fp32 results are bit-equal when no clipping
// applies; with clipping the norm's fp64 partial sums are added in another order (a difference
// in the last bits of the fp64 norm, rarely visible in the fp32 coefficient). Pure bf16
// (master_weights: none) rounds stochastically with the draws of dist.zero: 0: each piece names
// its whole parameter's rounding stream and its first element (Parameter::rounding_index,
// rounding_first).
// The masters keep their full size on every rank (not sharded in memory). Needs every master in
// one dtype.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_data.h"
#include "optim/optimizer.h"
#include "optim/optimizer_step.h"
#include "train/grad_allreduce.h"

namespace mp {

class ZeroOptimizer {
 public:
  // `reduce` holds the bucket layout and the communicator; `params` is the model's list (the
  // same on every rank). Throws ConfigError when the masters' dtypes differ.
  ZeroOptimizer(Backend& be, GradAllReduce& reduce, const ParamList& params);

  // The optimizer step for this rank's shard (see above); every rank calls it. `stats`: the
  // caller's step-stats tensor for the gradient check (optimizer_step allocates one without it),
  // read once with the micro-batches' loss in it; `on_read` sees that read before any update
  // (optimizer_step's), e.g. to raise a deferred data error.
  StepOutcome step(const ParamList& params, Optimizer& opt, const LrSchedule& schedule,
                   int64_t total_steps, LossScaler& scaler, double clip_norm,
                   const std::function<bool(bool)>& reduce_found_inf,
                   const std::vector<int64_t>& inject_nonfinite_steps, Tensor* stats = nullptr,
                   const std::function<void(const StepStats&)>& on_read = nullptr);

  // This rank's pieces, as parameters (the list optimizer state is kept for).
  const ParamList& shard_params() const { return view_ptrs_; }

  // The whole optimizer state, gathered from every rank (a collective: every rank calls it and
  // gets it): /optimizer/<slot>/<param> for every slot and parameter, as dist.zero: 0 stores it.
  std::vector<CheckpointTensor> gather_state(Optimizer& opt);
  // This rank's shard of a whole state (a checkpoint's, of any world size or zero setting).
  // DataError naming /optimizer/<slot>/<param> for an unknown slot or parameter or a size mismatch.
  void load_state(Optimizer& opt, const std::vector<CheckpointTensor>& state);

 private:
  struct Piece {
    size_t param = 0;      // index in the model's list
    size_t group = 0;      // its bucket
    int64_t begin = 0;     // first element within the parameter
    int64_t in_group = 0;  // its offset within the bucket's flat space
  };
  void gather_params(const ParamList& params);
  // Every rank's masters whole again (an all-gather in place; a collective) when gather_params
  // left them current only in this rank's shards.
  void gather_masters();

  Backend& be_;
  GradAllReduce& reduce_;
  std::vector<std::string> names_;  // the model's parameter names, in list order
  std::vector<int64_t> numels_;
  std::vector<Piece> pieces_;       // in list order
  std::vector<Parameter> views_;    // one per piece
  ParamList view_ptrs_;
  Tensor masters_;  // every master, flat in list order (the parameters' masters are views of it)
  Tensor workings_;  // mixed precision: every working copy, flat in list order (views of it)
  bool gather_working_ = false;  // the step all-gathers workings_ instead of masters_
  bool masters_stale_ = false;   // masters current only in this rank's shards (gather_masters)
  Tensor state_;   // the largest bucket, fp32 (gather_state)
};

}  // namespace mp
