// communicator.cpp: the collectives every implementation shares: argument checks, fp16/bf16
// widened to fp32 around the reduction (rounded back once), Mean as a scaled Sum, shard ranges.
#include "dist/communicator.h"

#include <bit>

#include "backend/backend.h"

namespace mp::dist {

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "sum";
    case ReduceOp::Mean: return "mean";
    case ReduceOp::Max: return "max";
  }
  return "?";
}

ShardRange shard_range(int64_t n, int world_size, int rank) {
  MP_CHECK(n >= 0 && world_size > 0 && rank >= 0 && rank < world_size,
           "shard_range: bad arguments n=" + std::to_string(n) + " world=" +
               std::to_string(world_size) + " rank=" + std::to_string(rank));
  const int64_t base = n / world_size, extra = n % world_size;
  ShardRange r;
  r.count = base + (rank < extra ? 1 : 0);
  r.begin = rank * base + (rank < extra ? rank : extra);
  return r;
}

std::string Communicator::where() const {
  return "rank " + std::to_string(rank()) + " of " + std::to_string(world_size());
}

namespace {

bool is_16bit(DType t) { return t == DType::F16 || t == DType::BF16; }

void check_reducible(const char* what, const Tensor& x, ReduceOp op) {
  MP_CHECK(x.defined(), std::string(what) + ": undefined tensor");
  MP_CHECK(is_float(x.dtype()) || (x.dtype() == DType::I32 && op != ReduceOp::Mean),
           std::string(what) + ": cannot " + reduce_op_name(op) + " " + x.describe() +
               " (float dtypes: sum, mean, max; int32: sum, max)");
}

// Whether [a, a + na) and [b, b + nb) share a byte.
bool overlaps(const Tensor& a, const Tensor& b) {
  const auto* pa = static_cast<const char*>(a.raw());
  const auto* pb = static_cast<const char*>(b.raw());
  return pa < pb + b.nbytes() && pb < pa + a.nbytes();
}

}  // namespace

Tensor Communicator::scratch_f32(int64_t n) {
  if (!scratch_.defined() || scratch_.numel() < n)
    scratch_ = be_.empty({std::max<int64_t>(n, 1)}, DType::F32);
  return scratch_.flat_range(0, n);
}

void Communicator::all_reduce(Tensor& x, ReduceOp op) {
  check_reducible("all_reduce", x, op);
  if (world_size() == 1 || x.numel() == 0) return;  // sum, mean and max of one value: itself
  const ReduceOp prim = op == ReduceOp::Max ? ReduceOp::Max : ReduceOp::Sum;
  const float inv_world = 1.0f / static_cast<float>(world_size());
  if (!is_16bit(x.dtype())) {
    Tensor flat = x.flat_range(0, x.numel());
    all_reduce_(flat, prim);
    if (op == ReduceOp::Mean) be_.scale(flat, inv_world);
    return;
  }
  Tensor wide = scratch_f32(x.numel());
  be_.cast(x.flat_range(0, x.numel()), wide);  // exact
  all_reduce_(wide, prim);
  if (op == ReduceOp::Mean) be_.scale(wide, inv_world);
  Tensor out = x.flat_range(0, x.numel());
  be_.cast(wide, out);  // the one rounding to fp16/bf16
}

void Communicator::reduce_scatter(const Tensor& full, Tensor& shard, ReduceOp op) {
  check_reducible("reduce_scatter", full, op);
  const ShardRange r = shard_range(full.numel(), world_size(), rank());
  MP_CHECK(shard.defined() && shard.dtype() == full.dtype() && shard.numel() == r.count,
           "reduce_scatter: " + where() + " owns " + std::to_string(r.count) + " of the " +
               std::to_string(full.numel()) + " elements of " + full.describe() +
               ", got a shard " + shard.describe());
  MP_CHECK(r.count == 0 || !overlaps(full, shard),
           "reduce_scatter: the shard must not overlap the full buffer");
  if (full.numel() == 0) return;
  const ReduceOp prim = op == ReduceOp::Max ? ReduceOp::Max : ReduceOp::Sum;
  const float inv_world = 1.0f / static_cast<float>(world_size());
  Tensor full_flat = full.flat_range(0, full.numel());
  Tensor shard_flat = shard.flat_range(0, shard.numel());
  if (!is_16bit(full.dtype())) {
    reduce_scatter_(full_flat, shard_flat, prim);
    if (op == ReduceOp::Mean && r.count > 0) be_.scale(shard_flat, inv_world);
    return;
  }
  Tensor wide = scratch_f32(full.numel() + r.count);
  Tensor wide_full = wide.flat_range(0, full.numel());
  Tensor wide_shard = wide.flat_range(full.numel(), r.count);
  be_.cast(full_flat, wide_full);  // exact
  reduce_scatter_(wide_full, wide_shard, prim);
  if (r.count == 0) return;
  if (op == ReduceOp::Mean) be_.scale(wide_shard, inv_world);
  be_.cast(wide_shard, shard_flat);  // the one rounding to fp16/bf16
}

void Communicator::all_gather(const Tensor& shard, Tensor& full) {
  MP_CHECK(full.defined() && shard.defined(), "all_gather: undefined tensor");
  const ShardRange r = shard_range(full.numel(), world_size(), rank());
  MP_CHECK(shard.dtype() == full.dtype() && shard.numel() == r.count,
           "all_gather: " + where() + " owns " + std::to_string(r.count) + " of the " +
               std::to_string(full.numel()) + " elements of " + full.describe() +
               ", got a shard " + shard.describe());
  const bool in_place =
      shard.raw() == static_cast<char*>(full.raw()) + r.begin * dtype_size(full.dtype());
  MP_CHECK(in_place || r.count == 0 || !overlaps(full, shard),
           "all_gather: the shard must be the full buffer's own range or not overlap it");
  if (full.numel() == 0) return;
  Tensor full_flat = full.flat_range(0, full.numel());
  all_gather_(shard.flat_range(0, shard.numel()), full_flat, in_place);
}

void Communicator::broadcast(Tensor& x, int root) {
  MP_CHECK(x.defined(), "broadcast: undefined tensor");
  MP_CHECK(root >= 0 && root < world_size(),
           "broadcast: root " + std::to_string(root) + " is not a rank of " + where());
  if (world_size() == 1 || x.numel() == 0) return;
  Tensor flat = x.flat_range(0, x.numel());
  broadcast_(flat, root);
}

bool Communicator::any(bool local) {
  if (!flag_.defined()) flag_ = be_.empty({1}, DType::I32);  // once: a step allocates nothing
  Tensor& flag = flag_;
  const int32_t v = local ? 1 : 0;
  be_.upload(&v, flag);
  all_reduce(flag, ReduceOp::Max);
  int32_t out = 0;
  be_.download(flag, &out);
  return out != 0;
}

std::vector<uint64_t> Communicator::all_gather_host(const std::vector<uint64_t>& local) {
  if (world_size() == 1) return local;
  const auto k = static_cast<int64_t>(local.size());
  std::vector<uint64_t> all(static_cast<size_t>(k * world_size()));
  if (k == 0) return all;
  if (!gather_.defined() || gather_.numel() < k * world_size())
    gather_ = be_.empty({k * world_size()}, DType::I64);
  Tensor full = gather_.flat_range(0, k * world_size());
  Tensor mine = full.flat_range(k * rank(), k);
  be_.upload(local.data(), mine);
  all_gather(mine, full);
  be_.download(full, all.data());
  return all;
}

std::vector<double> Communicator::sum_host(const std::vector<double>& local) {
  if (world_size() == 1) return local;
  std::vector<uint64_t> bits(local.size());
  for (size_t i = 0; i < local.size(); ++i) bits[i] = std::bit_cast<uint64_t>(local[i]);
  const std::vector<uint64_t> all = all_gather_host(bits);
  std::vector<double> sum(local.size(), 0.0);
  for (int r = 0; r < world_size(); ++r)
    for (size_t i = 0; i < local.size(); ++i)
      sum[i] += std::bit_cast<double>(all[static_cast<size_t>(r) * local.size() + i]);
  return sum;
}

}  // namespace mp::dist
