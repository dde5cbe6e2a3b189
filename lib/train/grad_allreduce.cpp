// grad_allreduce.cpp: pack -> one all-reduce per bucket -> unpack.
#include "train/grad_allreduce.h"

#include <algorithm>

namespace mp {

GradAllReduce::GradAllReduce(Backend& be, dist::Communicator& comm, const ParamList& params,
                             DType payload)
    : be_(be), comm_(comm), payload_(payload) {
  MP_CHECK(payload == DType::F32 || payload == DType::BF16,
           "GradAllReduce: the payload must be fp32 or bf16");
  int64_t largest = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    const int64_t n = params[i]->grad.numel();
    if (groups_.empty() || (groups_.back().numel > 0 && groups_.back().numel + n > kBucketElements))
      groups_.push_back({i, i, 0});
    groups_.back().end = i + 1;
    groups_.back().numel += n;
    largest = std::max(largest, groups_.back().numel);
  }
  bucket_ = be_.empty({std::max<int64_t>(largest, 1)}, payload_);
}

void GradAllReduce::run(const ParamList& params) {
  if (comm_.world_size() == 1) return;
  for (const Group& g : groups_) {
    if (g.numel == 0) continue;
    // Same dtype: a copy; fp32 -> bf16: the one rounding of the payload (and back: exact).
    const auto move = [&](bool in) {
      int64_t off = 0;
      for (size_t i = g.first; i < g.end; ++i) {
        Tensor& grad = params[i]->grad;
        const int64_t n = grad.numel();
        if (n == 0) continue;
        Tensor flat = grad.flat_range(0, n);
        Tensor part = bucket_.flat_range(off, n);
        if (in)
          payload_ == DType::F32 ? be_.copy(flat, part) : be_.cast(flat, part);
        else
          payload_ == DType::F32 ? be_.copy(part, flat) : be_.cast(part, flat);
        off += n;
      }
    };
    move(true);
    Tensor used = bucket_.flat_range(0, g.numel);
    comm_.all_reduce(used, dist::ReduceOp::Sum);
    move(false);
  }
}

}  // namespace mp
