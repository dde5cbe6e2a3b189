// mpi_communicator.cpp: the communicator of the CPU engine, on a duplicate of MPI_COMM_WORLD
// with MPI_ERRORS_RETURN (a failed call becomes a CommError naming the rank). Reductions run in
// fp32 (MPI_FLOAT) or int32 (MPI_INT); the base class widens fp16/bf16 around them. A peer that
// dies is not seen here: Open MPI's mpirun notices the exit and ends every rank (README).
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <vector>

#include "backend/backend.h"
#include "dist/communicator_impls.h"
#include "dist/mpi/mpi_check.h"
#include "dist/mpi_runtime.h"

namespace mp::dist {

namespace {

// Counts of one MPI call are ints: longer buffers go in pieces of this many elements.
constexpr int64_t kChunk = int64_t{1} << 30;

MPI_Datatype reduce_type(DType t) {
  MP_CHECK(t == DType::F32 || t == DType::I32,
           "mpi: reductions run on fp32 or int32, got " + std::string(dtype_name(t)));
  return t == DType::F32 ? MPI_FLOAT : MPI_INT;
}

MPI_Op reduce_mpi_op(ReduceOp op) { return op == ReduceOp::Max ? MPI_MAX : MPI_SUM; }

int to_int(int64_t n, const char* what) {
  MP_CHECK(n <= INT_MAX, std::string("mpi: ") + what + " of " + std::to_string(n) +
                             " elements does not fit MPI's int counts");
  return static_cast<int>(n);
}

std::string library_name() {
  char v[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int len = 0;
  MPI_Get_library_version(v, &len);
  std::string s(v, static_cast<size_t>(len));
  return s.substr(0, s.find_first_of(",\n"));  // "Open MPI v4.1.4"
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(Backend& be, const LaunchEnv& env) : Communicator(be) {
    MP_CHECK(be.device() == Device::CPU, "mpi: the MPI communicator reduces host (CPU) tensors");
    const MpiWorld w = mpi_world(env);
    rank_ = w.rank;
    world_ = w.size;
    local_rank_ = w.local_rank;
    check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    name_ = "mpi (" + library_name() + ")";
  }
  ~MpiCommunicator() override {
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  }

  void barrier() override { check(MPI_Barrier(comm_), "MPI_Barrier"); }

 protected:
  void all_reduce_(Tensor& x, ReduceOp op) override {
    const MPI_Datatype t = reduce_type(x.dtype());
    auto* p = static_cast<char*>(x.raw());
    for (int64_t off = 0; off < x.numel(); off += kChunk) {
      const int n = static_cast<int>(std::min(kChunk, x.numel() - off));
      check(MPI_Allreduce(MPI_IN_PLACE, p + off * dtype_size(x.dtype()), n, t,
                          reduce_mpi_op(op), comm_),
            "MPI_Allreduce");
    }
  }

  void reduce_scatter_(const Tensor& full, Tensor& shard, ReduceOp op) override {
    std::vector<int> counts(static_cast<size_t>(world_));
    for (int r = 0; r < world_; ++r)
      counts[static_cast<size_t>(r)] = to_int(shard_range(full.numel(), world_, r).count,
                                              "a reduce_scatter shard");
    check(MPI_Reduce_scatter(full.raw(), shard.raw(), counts.data(), reduce_type(full.dtype()),
                             reduce_mpi_op(op), comm_),
          "MPI_Reduce_scatter");
  }

  void all_gather_(const Tensor& shard, Tensor& full, bool in_place) override {
    std::vector<int> counts(static_cast<size_t>(world_)), displs(counts.size());
    to_int(full.numel(), "an all_gather buffer");  // so every displacement fits too
    for (int r = 0; r < world_; ++r) {
      const ShardRange s = shard_range(full.numel(), world_, r);
      counts[static_cast<size_t>(r)] = static_cast<int>(s.count);
      displs[static_cast<size_t>(r)] = static_cast<int>(s.begin);
    }
    const MPI_Datatype t = mpi_bits_type(dtype_size(full.dtype()));
    check(MPI_Allgatherv(in_place ? MPI_IN_PLACE : shard.raw(), static_cast<int>(shard.numel()),
                         t, full.raw(), counts.data(), displs.data(), t, comm_),
          "MPI_Allgatherv");
  }

  void broadcast_(Tensor& x, int root) override {
    const MPI_Datatype t = mpi_bits_type(dtype_size(x.dtype()));
    auto* p = static_cast<char*>(x.raw());
    for (int64_t off = 0; off < x.numel(); off += kChunk) {
      const int n = static_cast<int>(std::min(kChunk, x.numel() - off));
      check(MPI_Bcast(p + off * dtype_size(x.dtype()), n, t, root, comm_), "MPI_Bcast");
    }
  }

 private:
  void check(int rc, const char* call) const { mpi_check(rc, call, "mpi: " + where()); }

  MPI_Comm comm_ = MPI_COMM_NULL;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(Backend& backend, const LaunchEnv& env) {
  return std::make_unique<MpiCommunicator>(backend, env);
}

}  // namespace mp::dist
