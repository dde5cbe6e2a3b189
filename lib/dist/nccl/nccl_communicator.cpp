// nccl_communicator.cpp: the communicator of the CUDA engine (built only with CUDA, NCCL and
// MPI). Each process drives the GPU of its local rank (modulo the GPUs it can see, so one GPU per
// task under CUDA_VISIBLE_DEVICES also works); rank 0's ncclUniqueId reaches the others over MPI
// (a forced one-rank communicator started without a launcher uses no MPI).
// Collectives are queued on the CudaBackend's stream, after the casts the base class queues.
//
// Errors are checked asynchronously: the communicator is non-blocking (ncclConfig_t::blocking =
// 0), and after queueing a collective the host polls the stream and ncclCommGetAsyncError. An
// NCCL error (a peer's connection closed, a remote failure) aborts the communicator and throws
// CommError naming the rank, and so does a collective that has not finished after
// MPTRAIN_DIST_TIMEOUT_S seconds (default 300): a dead peer cannot hang the step forever. Under
// mpirun the job usually ends sooner, when mpirun notices the dead process.
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "dist/communicator_impls.h"
#include "dist/mpi_runtime.h"

namespace mp::dist {

namespace {

using Clock = std::chrono::steady_clock;

ncclDataType_t reduce_type(DType t) {
  MP_CHECK(t == DType::F32 || t == DType::I32,
           "nccl: reductions run on fp32 or int32, got " + std::string(dtype_name(t)));
  return t == DType::F32 ? ncclFloat32 : ncclInt32;
}

ncclRedOp_t reduce_nccl_op(ReduceOp op) { return op == ReduceOp::Max ? ncclMax : ncclSum; }

std::chrono::seconds timeout_from_env() {
  long s = 300;
  if (const char* v = std::getenv("MPTRAIN_DIST_TIMEOUT_S")) {
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    if (end == v || *end != '\0' || n <= 0)
      throw ConfigError("MPTRAIN_DIST_TIMEOUT_S=\"" + std::string(v) +
                        "\": expected a positive number of seconds");
    s = n;
  }
  return std::chrono::seconds(s);
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(Backend& be, const LaunchEnv& env) : Communicator(be), timeout_(timeout_from_env()) {
    auto* cuda = dynamic_cast<cuda::CudaBackend*>(&be);
    MP_CHECK(cuda != nullptr, "nccl: the NCCL communicator needs the CUDA backend");
    stream_ = cuda->stream();
    // Started without a launcher (MPTRAIN_DIST_FORCE=1, communicator_factory.cpp): one rank,
    // no MPI; its unique id needs no broadcast.
    const bool solo = !env.launched && !mpi_is_initialized();
    const MpiWorld w = solo ? MpiWorld{} : mpi_world(env);
    rank_ = solo ? 0 : w.rank;
    world_ = solo ? 1 : w.size;
    local_rank_ = solo ? 0 : w.local_rank;
    int devices = 0;
    MP_CUDA_CHECK(cudaGetDeviceCount(&devices));
    const int want = local_rank_ % devices;
    if (cuda->ordinal() != want)
      throw ConfigError(where() + " (local rank " + std::to_string(local_rank_) + ") runs on GPU " +
                        std::to_string(cuda->ordinal()) + " but should take GPU " +
                        std::to_string(want) + " of the " + std::to_string(devices) +
                        " it sees; create its CUDA backend with make_cuda_backend(" +
                        std::to_string(want) + ")");
    MP_CUDA_CHECK(cudaSetDevice(cuda->ordinal()));

    ncclUniqueId id{};
    if (rank_ == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    if (!solo) mpi_broadcast_bytes(&id, sizeof id, 0);
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    check(ncclCommInitRankConfig(&comm_, world_, id, rank_, &config), "ncclCommInitRankConfig");
    settle("ncclCommInitRankConfig");

    int v = 0;
    ncclGetVersion(&v);
    name_ = "nccl " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." +
            std::to_string(v % 100);
  }

  ~NcclCommunicator() override {
    if (!comm_) return;
    // Flush and free; a communicator that cannot finish in time is aborted instead.
    ncclResult_t state = ncclCommFinalize(comm_);
    const auto deadline = Clock::now() + timeout_;
    while (state == ncclSuccess || state == ncclInProgress) {
      if (ncclCommGetAsyncError(comm_, &state) != ncclSuccess || state == ncclSuccess) break;
      if (Clock::now() > deadline) break;
      std::this_thread::yield();
    }
    if (state == ncclSuccess)
      ncclCommDestroy(comm_);
    else
      ncclCommAbort(comm_);
  }


  void barrier() override {  // NCCL has none: a one-element all-reduce, checked like any other
    Tensor one = be_.empty({1}, DType::I32);
    be_.fill(one, 0.0f);
    all_reduce_(one, ReduceOp::Sum);
  }

 protected:
  void all_reduce_(Tensor& x, ReduceOp op) override {
    live();
    check(ncclAllReduce(x.raw(), x.raw(), static_cast<size_t>(x.numel()), reduce_type(x.dtype()),
                        reduce_nccl_op(op), comm_, stream_),
          "ncclAllReduce");
    wait("ncclAllReduce");
  }

  void reduce_scatter_(const Tensor& full, Tensor& shard, ReduceOp op) override {
    live();
    const ncclDataType_t t = reduce_type(full.dtype());
    const size_t es = dtype_size(full.dtype());
    if (full.numel() % world_ == 0) {
      check(ncclReduceScatter(full.raw(), shard.raw(), static_cast<size_t>(shard.numel()), t,
                              reduce_nccl_op(op), comm_, stream_),
            "ncclReduceScatter");
    } else {  // uneven shards: one reduce to each owner
      per_shard(full.numel(), [&](int r, const ShardRange& s) {
        check(ncclReduce(static_cast<const char*>(full.raw()) + s.begin * es, shard.raw(),
                         static_cast<size_t>(s.count), t, reduce_nccl_op(op), r, comm_, stream_),
              "ncclReduce");
      });
    }
    wait("reduce_scatter");
  }

  void all_gather_(const Tensor& shard, Tensor& full, bool in_place) override {
    live();
    const size_t es = dtype_size(full.dtype());
    char* base = static_cast<char*>(full.raw());
    if (full.numel() % world_ == 0) {
      const void* send = in_place ? base + rank_ * shard.numel() * es : shard.raw();
      check(ncclAllGather(send, base, static_cast<size_t>(shard.numel()) * es, ncclUint8, comm_,
                          stream_),
            "ncclAllGather");
    } else {  // uneven shards: each owner broadcasts its range
      per_shard(full.numel(), [&](int r, const ShardRange& s) {
        char* dst = base + s.begin * es;
        check(ncclBroadcast(r == rank_ ? shard.raw() : dst, dst, static_cast<size_t>(s.count) * es,
                            ncclUint8, r, comm_, stream_),
              "ncclBroadcast");
      });
    }
    wait("all_gather");
  }

  void broadcast_(Tensor& x, int root) override {
    live();
    check(ncclBroadcast(x.raw(), x.raw(), x.nbytes(), ncclUint8, root, comm_, stream_),
          "ncclBroadcast");
    wait("ncclBroadcast");
  }

 private:
  // issue(owner, its range) for every non-empty shard of n elements, grouped into one launch.
  template <class Issue> void per_shard(int64_t n, Issue issue) {
    check(ncclGroupStart(), "ncclGroupStart");
    for (int r = 0; r < world_; ++r) {
      const ShardRange s = shard_range(n, world_, r);
      if (s.count > 0) issue(r, s);
    }
    check(ncclGroupEnd(), "ncclGroupEnd");
  }
  // A call on a non-blocking communicator returns ncclSuccess, ncclInProgress (still being
  // issued: settle() before the next call) or an error.
  void check(ncclResult_t r, const char* call) {
    if (r == ncclSuccess) return;
    if (r == ncclInProgress) return settle(call);
    fail(call, r);
  }
  // Waits until the communicator is no longer ncclInProgress.
  void settle(const char* what) {
    const auto deadline = Clock::now() + timeout_;
    for (;;) {
      ncclResult_t state = ncclSuccess;
      const ncclResult_t q = ncclCommGetAsyncError(comm_, &state);
      if (q != ncclSuccess) fail("ncclCommGetAsyncError", q);
      if (state == ncclSuccess) return;
      if (state != ncclInProgress) fail(what, state);
      if (Clock::now() > deadline) time_out(what);
      std::this_thread::yield();
    }
  }
  // Waits for the stream (the collective and everything before it), watching for NCCL errors.
  void wait(const char* what) {
    const auto deadline = Clock::now() + timeout_;
    for (;;) {
      const cudaError_t q = cudaStreamQuery(stream_);
      if (q == cudaSuccess) return;
      if (q != cudaErrorNotReady) MP_CUDA_CHECK(q);
      ncclResult_t state = ncclSuccess;
      ncclCommGetAsyncError(comm_, &state);
      if (state != ncclSuccess && state != ncclInProgress) fail(what, state);
      if (Clock::now() > deadline) time_out(what);
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }
  [[noreturn]] void fail(const char* what, ncclResult_t r) {
    const std::string detail = comm_ ? ncclGetLastError(comm_) : "";
    abort_comm();
    throw CommError("nccl: " + where() + ": " + what + " failed: " + ncclGetErrorString(r) +
                    (detail.empty() ? "" : " (" + detail + ")") +
                    "; a peer process may have died: see its own message");
  }
  [[noreturn]] void time_out(const char* what) {
    abort_comm();
    throw CommError("nccl: " + where() + ": " + what + " did not finish within " +
                    std::to_string(timeout_.count()) +
                    " s (MPTRAIN_DIST_TIMEOUT_S); a peer process died or stopped");
  }
  void live() const {
    if (!comm_)
      throw CommError("nccl: " + where() + ": the communicator was aborted after an earlier error");
  }
  void abort_comm() {
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
  }

  std::chrono::seconds timeout_;
  cudaStream_t stream_ = nullptr;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(Backend& backend, const LaunchEnv& env) {
  return std::make_unique<NcclCommunicator>(backend, env);
}

}  // namespace mp::dist
