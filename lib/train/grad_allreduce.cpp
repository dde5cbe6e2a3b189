// grad_allreduce.cpp: pack -> one all-reduce (or reduce-scatter) per bucket -> unpack.
#include "train/grad_allreduce.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>

#include "train/flat_buffer.h"

namespace mp {

namespace {

// Adds the wall time of its scope to `total`.
struct ScopeTimer {
  double& total;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  ~ScopeTimer() {
    total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
};

}  // namespace

int64_t bucket_elements_from_env() {
  const char* v = std::getenv("MPTRAIN_DIST_BUCKET_ELEMENTS");
  if (!v) return GradAllReduce::kBucketElements;
  char* end = nullptr;
  const long long n = std::strtoll(v, &end, 10);
  if (end == v || *end != '\0' || n < 1)
    throw ConfigError("MPTRAIN_DIST_BUCKET_ELEMENTS=\"" + std::string(v) +
                      "\": expected a positive number of elements per gradient bucket; unset it "
                      "for the default " + std::to_string(GradAllReduce::kBucketElements));
  return n;
}

GradAllReduce::GradAllReduce(Backend& be, dist::Communicator& comm, const ParamList& params,
                             DType payload, int64_t bucket_elements)
    : be_(be), comm_(comm), payload_(payload) {
  MP_CHECK(payload == DType::F32 || payload == DType::BF16,
           "GradAllReduce: the payload must be fp32 or bf16");
  MP_CHECK(bucket_elements >= 1, "GradAllReduce: bucket_elements must be >= 1");
  int64_t largest = 0, offset = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    MP_CHECK(params[i]->grad.defined() && params[i]->grad.dtype() == DType::F32,
             "GradAllReduce: " + params[i]->name + " has no fp32 gradient (frozen?)");
    const int64_t n = params[i]->grad.numel();
    if (groups_.empty() || (groups_.back().numel > 0 && groups_.back().numel + n > bucket_elements))
      groups_.push_back({i, i, offset, 0});
    groups_.back().end = i + 1;
    groups_.back().numel += n;
    offset += n;
    largest = std::max(largest, groups_.back().numel);
  }
  // The gradients move into the flat space: each becomes a view of flat_ at its offset (values
  // kept), so a bucket is a range of flat_ and an fp32 payload is reduced in place.
  std::vector<Tensor*> grads;
  for (Parameter* p : params) grads.push_back(&p->grad);
  flat_ = move_into_flat(be_, grads, DType::F32);
  if (payload_ != DType::F32) bucket_ = be_.empty({std::max<int64_t>(largest, 1)}, payload_);
}

Tensor GradAllReduce::group_grads(const Group& g) const { return flat_.flat_range(g.offset, g.numel); }

void GradAllReduce::zero_grads() { be_.fill(flat_, 0.0f); }

void GradAllReduce::move(const Group& g, bool in) {
  // bf16 payload only: the one rounding of the payload (and back: exact).
  Tensor grads = group_grads(g);
  Tensor part = bucket_.flat_range(0, g.numel);
  in ? be_.cast(grads, part) : be_.cast(part, grads);
}

void GradAllReduce::run() {
  if (comm_.world_size() == 1) return;
  ScopeTimer timer{comm_seconds_};
  for (const Group& g : groups_) {
    if (g.numel == 0) continue;
    if (payload_ == DType::F32) {
      Tensor grads = group_grads(g);
      comm_.all_reduce(grads, dist::ReduceOp::Sum);
      continue;
    }
    move(g, true);
    Tensor used = bucket_.flat_range(0, g.numel);
    comm_.all_reduce(used, dist::ReduceOp::Sum);
    move(g, false);
  }
}

Tensor& GradAllReduce::shard_grad() {
  if (shard_grad_.defined()) return shard_grad_;
  int64_t total = 0, largest = 0;
  for (const Group& g : groups_) {
    const int64_t c = dist::shard_range(g.numel, comm_.world_size(), comm_.rank()).count;
    total += c;
    largest = std::max(largest, c);
  }
  shard_grad_ = be_.empty({std::max<int64_t>(total, 1)}, DType::F32);
  be_.fill(shard_grad_, 0.0f);
  if (payload_ != DType::F32) shard_tmp_ = be_.empty({std::max<int64_t>(largest, 1)}, payload_);
  return shard_grad_;
}

void GradAllReduce::reduce_scatter() {
  ScopeTimer timer{comm_seconds_};
  Tensor& shard = shard_grad();
  int64_t out = 0;
  for (const Group& g : groups_) {
    const int64_t c = dist::shard_range(g.numel, comm_.world_size(), comm_.rank()).count;
    if (g.numel == 0) continue;
    Tensor dst = shard.flat_range(out, c);
    if (payload_ == DType::F32) {
      comm_.reduce_scatter(group_grads(g), dst, dist::ReduceOp::Sum);
    } else {
      move(g, true);
      Tensor tmp = shard_tmp_.flat_range(0, c);
      comm_.reduce_scatter(bucket_.flat_range(0, g.numel), tmp, dist::ReduceOp::Sum);
      be_.cast(tmp, dst);  // bf16 -> fp32: exact
    }
    out += c;
  }
}

}  // namespace mp
