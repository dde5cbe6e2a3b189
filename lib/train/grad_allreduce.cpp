// grad_allreduce.cpp: pack -> one all-reduce (or reduce-scatter) per bucket -> unpack.
#include "train/grad_allreduce.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>

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
    const int64_t n = params[i]->grad.numel();
    if (groups_.empty() || (groups_.back().numel > 0 && groups_.back().numel + n > bucket_elements))
      groups_.push_back({i, i, offset, 0});
    groups_.back().end = i + 1;
    groups_.back().numel += n;
    offset += n;
    largest = std::max(largest, groups_.back().numel);
  }
  bucket_ = be_.empty({std::max<int64_t>(largest, 1)}, payload_);
}

void GradAllReduce::move(const ParamList& params, const Group& g, bool in) {
  // Same dtype: a copy; fp32 -> bf16: the one rounding of the payload (and back: exact).
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
}

void GradAllReduce::run(const ParamList& params) {
  if (comm_.world_size() == 1) return;
  ScopeTimer timer{comm_seconds_};
  for (const Group& g : groups_) {
    if (g.numel == 0) continue;
    move(params, g, true);
    Tensor used = bucket_.flat_range(0, g.numel);
    comm_.all_reduce(used, dist::ReduceOp::Sum);
    move(params, g, false);
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

void GradAllReduce::reduce_scatter(const ParamList& params) {
  ScopeTimer timer{comm_seconds_};
  Tensor& shard = shard_grad();
  int64_t out = 0;
  for (const Group& g : groups_) {
    const int64_t c = dist::shard_range(g.numel, comm_.world_size(), comm_.rank()).count;
    if (g.numel == 0) continue;
    move(params, g, true);
    Tensor dst = shard.flat_range(out, c);
    if (payload_ == DType::F32) {
      comm_.reduce_scatter(bucket_.flat_range(0, g.numel), dst, dist::ReduceOp::Sum);
    } else {
      Tensor tmp = shard_tmp_.flat_range(0, c);
      comm_.reduce_scatter(bucket_.flat_range(0, g.numel), tmp, dist::ReduceOp::Sum);
      be_.cast(tmp, dst);  // bf16 -> fp32: exact
    }
    out += c;
  }
}

}  // namespace mp
