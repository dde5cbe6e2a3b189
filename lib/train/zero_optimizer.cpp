// zero_optimizer.cpp: pieces of the flat space per rank, the sharded step, state gather/scatter.
#include "train/zero_optimizer.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "core/error.h"
#include "train/flat_buffer.h"

namespace mp {

ZeroOptimizer::ZeroOptimizer(Backend& be, GradAllReduce& reduce, const ParamList& params)
    : be_(be), reduce_(reduce) {
  dist::Communicator& comm = reduce_.comm();
  for (const Parameter* p : params) {
    names_.push_back(p->name);
    numels_.push_back(p->master.numel());
    if (p->master.dtype() != params.front()->master.dtype())
      throw ConfigError("dist.zero: 1 needs every parameter's master weights in one dtype, but " +
                        p->name + " keeps " + std::string(dtype_name(p->master.dtype())) + " and " +
                        params.front()->name + " " +
                        std::string(dtype_name(params.front()->master.dtype())) +
                        " (a layer kept in fp32 with master_weights: none); use dist.zero: 0 or "
                        "master_weights: fp32");
  }
  // The masters move into one flat buffer in list order (each Parameter::master a view at its
  // offset, values kept; the working copy too where it is the master itself): the offsets are
  // those of the flat gradient space, so a bucket's masters are one range and the all-gather of
  // the updated masters runs in place (no copies in or out).
  const DType md = params.empty() ? DType::F32 : params.front()->master.dtype();
  std::vector<Tensor*> masters;
  std::vector<bool> same;  // the working copy is the master itself (fp32, pure 16-bit)
  for (Parameter* p : params) {
    masters.push_back(&p->master);
    same.push_back(p->working.raw() == p->master.raw());
  }
  masters_ = move_into_flat(be_, masters, md);
  for (size_t i = 0; i < params.size(); ++i)
    if (same[i]) params[i]->working = params[i]->master;
  // Mixed precision (every working copy its own tensor, of one dtype): the working copies move
  // into a flat buffer too, and the step all-gathers them instead of the masters (half the bytes
  // for bf16/fp16; the fused update already wrote this rank's working elements from its masters,
  // RNE, so every rank holds the same working bits as an all-gather of masters + recast gives).
  // The masters are then current only in this rank's shards until gather_masters() (checkpoints).
  gather_working_ = !params.empty();
  for (const Parameter* p : params)
    gather_working_ = gather_working_ && p->working.raw() != p->master.raw() &&
                      p->working.dtype() == params.front()->working.dtype();
  if (gather_working_) {
    std::vector<Tensor*> workings;
    for (Parameter* p : params) workings.push_back(&p->working);
    workings_ = move_into_flat(be_, workings, params.front()->working.dtype());
  }
  Tensor& shard_grad = reduce_.shard_grad();
  int64_t shard_offset = 0, largest = 0;
  const auto& groups = reduce_.groups();
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const GradAllReduce::Group& g = groups[gi];
    largest = std::max(largest, g.numel);
    const dist::ShardRange mine = dist::shard_range(g.numel, comm.world_size(), comm.rank());
    int64_t at = 0;  // the parameter's first element in the bucket
    for (size_t i = g.first; i < g.end; ++i) {
      const Parameter& p = *params[i];
      const int64_t n = p.master.numel();
      const int64_t lo = std::max(at, mine.begin), hi = std::min(at + n, mine.begin + mine.count);
      at += n;
      if (lo >= hi) continue;
      pieces_.push_back({i, gi, lo - (at - n), lo});
      Parameter v;
      v.name = p.name;  // optimizer state is keyed by name: one piece per parameter per rank
      v.decay = p.decay;
      v.rounding_index = static_cast<int64_t>(i);  // the whole parameter's rounding stream
      v.rounding_first = lo - (at - n);
      v.master = p.master.flat_range(lo - (at - n), hi - lo);
      v.working = p.working.raw() == p.master.raw() ? v.master
                                                    : p.working.flat_range(lo - (at - n), hi - lo);
      v.grad = shard_grad.flat_range(shard_offset + lo - mine.begin, hi - lo);
      views_.push_back(std::move(v));
    }
    shard_offset += mine.count;
  }
  for (Parameter& v : views_) view_ptrs_.push_back(&v);
  state_ = be_.empty({std::max<int64_t>(largest, 1)}, DType::F32);
}

StepOutcome ZeroOptimizer::step(const ParamList& params, Optimizer& opt, const LrSchedule& schedule,
                                int64_t total_steps, LossScaler& scaler, double clip_norm,
                                const std::function<bool(bool)>& reduce_found_inf,
                                const std::vector<int64_t>& inject_nonfinite_steps,
                                Tensor* stats,
                                const std::function<void(const StepStats&)>& on_read) {
  reduce_.reduce_scatter();
  reduce_.zero_grads();  // the next accumulation starts from zero; the shard holds the sums
  dist::Communicator& comm = reduce_.comm();
  const auto reduce_sum_squares = [&comm](double local) { return comm.sum_host({local})[0]; };
  const StepOutcome out = optimizer_step(be_, view_ptrs_, opt, schedule, total_steps, scaler,
                                         clip_norm, reduce_found_inf, inject_nonfinite_steps,
                                         reduce_sum_squares, stats, on_read);
  if (!out.skipped) gather_params(params);
  return out;
}

void ZeroOptimizer::gather_params(const ParamList& params) {
  const auto t0 = std::chrono::steady_clock::now();
  dist::Communicator& comm = reduce_.comm();
  for (const GradAllReduce::Group& g : reduce_.groups()) {
    if (g.numel == 0) continue;
    const dist::ShardRange mine = dist::shard_range(g.numel, comm.world_size(), comm.rank());
    Tensor full = (gather_working_ ? workings_ : masters_).flat_range(g.offset, g.numel);
    comm.all_gather(full.flat_range(mine.begin, mine.count), full);  // in place
    if (!gather_working_)
      for (size_t i = g.first; i < g.end; ++i) sync_working(be_, *params[i]);
  }
  masters_stale_ = masters_stale_ || gather_working_;
  reduce_.add_comm_seconds(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

void ZeroOptimizer::gather_masters() {
  if (!masters_stale_) return;
  dist::Communicator& comm = reduce_.comm();
  for (const GradAllReduce::Group& g : reduce_.groups()) {
    if (g.numel == 0) continue;
    const dist::ShardRange mine = dist::shard_range(g.numel, comm.world_size(), comm.rank());
    Tensor full = masters_.flat_range(g.offset, g.numel);
    comm.all_gather(full.flat_range(mine.begin, mine.count), full);
  }
  masters_stale_ = false;
}

std::vector<CheckpointTensor> ZeroOptimizer::gather_state(Optimizer& opt) {
  gather_masters();  // the checkpoint's /params read the masters next
  dist::Communicator& comm = reduce_.comm();
  opt.init_state(be_, view_ptrs_);  // a checkpoint before the first step: zeros, as zero: 0 has
  std::map<std::string, CheckpointTensor> by_name;  // dist.zero: 0's order: slot, sorted names
  std::vector<CheckpointTensor> out;
  for (const std::string& slot : opt.slot_names()) {
    by_name.clear();
    size_t k = 0;
    for (size_t gi = 0; gi < reduce_.groups().size(); ++gi) {
      const GradAllReduce::Group& g = reduce_.groups()[gi];
      if (g.numel == 0) continue;
      for (; k < pieces_.size() && pieces_[k].group == gi; ++k) {
        const std::vector<float> mine = opt.get_slot(be_, slot, views_[k].name);
        Tensor dst = state_.flat_range(pieces_[k].in_group, static_cast<int64_t>(mine.size()));
        be_.upload(mine.data(), dst);
      }
      const dist::ShardRange mine = dist::shard_range(g.numel, comm.world_size(), comm.rank());
      Tensor full = state_.flat_range(0, g.numel);
      comm.all_gather(state_.flat_range(mine.begin, mine.count), full);
      const std::vector<float> all = to_host_floats(be_, full);
      int64_t at = 0;
      for (size_t i = g.first; i < g.end; ++i) {
        const int64_t n = numels_[i];
        CheckpointTensor t;
        t.slot = slot;
        t.name = names_[i];
        t.values.assign(all.begin() + at, all.begin() + at + n);
        by_name[t.name] = std::move(t);
        at += n;
      }
    }
    for (auto& kv : by_name) out.push_back(std::move(kv.second));
  }
  return out;
}

void ZeroOptimizer::load_state(Optimizer& opt, const std::vector<CheckpointTensor>& state) {
  opt.init_state(be_, view_ptrs_);
  const std::vector<std::string> slots = opt.slot_names();
  for (const CheckpointTensor& t : state) {
    const std::string key = "/optimizer/" + t.slot + "/" + t.name;
    if (std::find(slots.begin(), slots.end(), t.slot) == slots.end())
      throw DataError("checkpoint " + key + ": the " + opt.type() + " optimizer has no slot \"" +
                      t.slot + "\"");
    const auto it = std::find(names_.begin(), names_.end(), t.name);
    if (it == names_.end())
      throw DataError("checkpoint " + key + ": the model has no parameter \"" + t.name + "\"");
    const auto i = static_cast<size_t>(it - names_.begin());
    if (static_cast<int64_t>(t.values.size()) != numels_[i])
      throw DataError("checkpoint " + key + ": expected " + std::to_string(numels_[i]) +
                      " values, got " + std::to_string(t.values.size()));
    for (size_t k = 0; k < pieces_.size(); ++k) {
      if (pieces_[k].param != i) continue;
      const auto b = t.values.begin() + pieces_[k].begin;
      opt.set_slot(be_, t.slot, t.name,
                   std::vector<float>(b, b + views_[k].master.numel()));
    }
  }
}

}  // namespace mp
