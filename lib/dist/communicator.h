// communicator.h: collective operations between the processes of a data-parallel job, on the
// tensors of one Backend (host memory for the CPU engine, device memory for the CUDA engine).
// Three implementations, chosen by make_communicator (communicator_factory.cpp):
//   single  one process (no MPI at run time): every collective is the identity or a copy
//   mpi     processes started by mpirun/srun, CPU engine (mpi_communicator.cpp)
//   nccl    processes started by mpirun/srun, CUDA engine; the NCCL id is broadcast over MPI
//           (nccl_communicator.cpp, built only with CUDA and MPI)
// No MPI, NCCL or CUDA header is included here: CPU code includes this file.
//
// Numerics (the same for every implementation):
//   - fp32 buffers are reduced in fp32. The order in which ranks' values are added is the
//     library's (MPI, NCCL); with two ranks a + b is exact-order-free, with more it may differ
//     between libraries, never between the ranks of one job (every rank gets the same bits).
//   - fp16/bf16 buffers are never summed in 16 bits: they are widened (exactly) to fp32, reduced
//     in fp32, and rounded back to fp16/bf16 once (RNE). This is lossy against an fp32
//     all-reduce of the unrounded values: the inputs were already rounded, and so is the result.
//   - Mean is the fp32 sum divided by world_size in fp32, then (fp16/bf16) rounded once.
//   - Max is exact in every dtype; int32 buffers support Sum and Max (found_inf flags, counts).
// Every rank must call the same collectives in the same order with tensors of the same dtype
// and element count (a mismatch is a bug in the caller; MPI may hang or fail on it).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace mp {

class Backend;

namespace dist {

enum class ReduceOp : uint8_t { Sum, Mean, Max };
const char* reduce_op_name(ReduceOp op);  // "sum", "mean", "max"

// The part of a flat buffer of n elements that rank r owns in reduce_scatter/all_gather: ranks
// get n / world elements each and the first n % world ranks one more, in rank order, so shards
// differ by at most one element and cover [0, n) without gaps.
struct ShardRange {
  int64_t begin = 0;
  int64_t count = 0;
};
ShardRange shard_range(int64_t n, int world_size, int rank);

// A collective failed at run time (a peer died, the network broke, a timeout): exit 1. The
// message starts with "rank R of N:" so a log line names the process it came from.
class CommError : public Error {
 public:
  explicit CommError(const std::string& msg) : Error(kExitInternal, msg) {}
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  const std::string& name() const { return name_; }  // "single process", "mpi (Open MPI v4.1.4)"
  int rank() const { return rank_; }                  // 0 .. world_size - 1
  int world_size() const { return world_; }
  int local_rank() const { return local_rank_; }  // rank among this node's processes (its GPU)
  virtual void barrier() = 0;

  // In place: x = op over every rank's x. x: fp32/fp16/bf16 (Sum, Mean, Max) or int32 (Sum, Max).
  void all_reduce(Tensor& x, ReduceOp op);
  // shard = op over every rank's `full`, restricted to shard_range(full.numel(), world, rank).
  // full: as all_reduce; shard: same dtype, that range's count; the two must not overlap.
  void reduce_scatter(const Tensor& full, Tensor& shard, ReduceOp op);
  // full = every rank's shard concatenated in rank order; shard has this rank's
  // shard_range(full.numel(), ...).count elements, any dtype (bits are copied, not converted).
  // shard may be full's own range (full.flat_range(begin, count)): then it is used in place.
  void all_gather(const Tensor& shard, Tensor& full);
  // x = root's x on every rank (bits copied, any dtype).
  void broadcast(Tensor& x, int root);
  // True on every rank when `local` is true on any rank (a found_inf flag): an int32 Max.
  bool any(bool local);

  // Small host values (counts, loss sums, hashes), for control decisions every rank must make
  // alike. all_gather_host: every rank's `local` (each rank passes the same count k), in rank
  // order: world_size * k words, the bits of an int64 all_gather. sum_host: element-wise sums of
  // fp64 values, added in rank order in fp64 on every rank, so every rank gets the same bits and
  // counts below 2^53 are exact (the fp32 all_reduce would round a loss sum to 24 bits).
  std::vector<uint64_t> all_gather_host(const std::vector<uint64_t>& local);
  std::vector<double> sum_host(const std::vector<double>& local);

 protected:
  explicit Communicator(Backend& backend) : be_(backend) {}
  // "rank 1 of 2": the prefix of every communication error.
  std::string where() const;

  // The primitives an implementation provides, on checked arguments: x/full/shard are fp32 or
  // int32 (16-bit buffers were widened), op is Sum or Max (Mean was turned into Sum), tensors
  // are on the backend's device. all_gather_/broadcast_ move bytes of any dtype.
  virtual void all_reduce_(Tensor& x, ReduceOp op) = 0;
  virtual void reduce_scatter_(const Tensor& full, Tensor& shard, ReduceOp op) = 0;
  virtual void all_gather_(const Tensor& shard, Tensor& full, bool in_place) = 0;
  virtual void broadcast_(Tensor& x, int root) = 0;

  Backend& be_;
  // Set by each implementation's constructor.
  std::string name_ = "single process";
  int rank_ = 0, world_ = 1, local_rank_ = 0;

 private:
  // fp32 scratch of n elements on the backend's device (grown on demand, reused).
  Tensor scratch_f32(int64_t n);
  Tensor scratch_;
  // any()'s flag and all_gather_host's buffer (grow-only), kept so that the per-step calls
  // (found_inf, the logged sums) allocate nothing in a steady state.
  Tensor flag_, gather_;
};

// The communicator for this process: single-process unless it was started by mpirun/srun with
// more than one process (launch_env.h); then MPI for the CPU engine, NCCL for the CUDA engine.
// `backend` must outlive the communicator. Errors: ConfigError when the launch asks for more
// than one process and this build or engine cannot provide it (no MPI, no NCCL).
std::unique_ptr<Communicator> make_communicator(Backend& backend);

// The single-process communicator (also what make_communicator returns outside mpirun).
std::unique_ptr<Communicator> make_single_communicator(Backend& backend);

}  // namespace dist
}  // namespace mp
