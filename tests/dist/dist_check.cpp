// dist_check.cpp: the program tests/dist/dist_mpi.sh runs under mpirun (one copy per rank).
//   dist_check collectives DIR   every collective against exact expected values (DIR: scratch
//                                folder for the barrier check); prints "rank R: ok (N checks)"
//   dist_check fail|kill|no_finish   the last rank fails (an error and MPI_Abort through
//                                finish_process / SIGKILL / exit 0 without finish_process) after
//                                a barrier while the others wait in an all-reduce
//   dist_check probe ARGS...     prints what the launcher gave this rank (rank, local rank,
//                                threads, CPU affinity, arguments)
// Exit: 0 all checks passed, 1 a check failed, 3 the deliberate error of `fail`.
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "backend/backend.h"
#include "core/half.h"
#include "dist/communicator.h"
#include "dist/launch_env.h"
#include "dist/mpi/mpi_check.h"
#include "dist/mpi_runtime.h"

using namespace mp;
using namespace mp::dist;

namespace {

int g_checks = 0, g_failures = 0;
int g_rank = 0;

void expect(bool ok, const std::string& what) {
  ++g_checks;
  if (!ok) {
    ++g_failures;
    std::fprintf(stderr, "rank %d: FAIL: %s\n", g_rank, what.c_str());
  }
}

// Rank r's input element i: k * 2^-12 with |k| < 2^11, so any fp32 sum of a few of them is exact
// whatever the order, and the exact sum (fp64) is the reference. Element 0 is the halfway case:
// 1 on rank 0, 2^-8 on the others: in bf16, 1 + 2^-8 rounds back to 1 (ties to even), so summing
// in 16 bits one rank at a time gives 1 where the fp32 sum of three ranks is 1 + 2^-7.
float input(int r, int64_t i) {
  if (i == 0) return r == 0 ? 1.0f : 0.00390625f;
  const int64_t k = ((i * 7919 + r * 104729) % 4001) - 2000;
  return static_cast<float>(k) / 4096.0f;
}

// What rank r contributes in dtype dt: the input rounded once to dt.
float contributed(int r, int64_t i, DType dt) {
  const float x = input(r, i);
  if (dt == DType::BF16) return round_to<bfloat16>(x);
  if (dt == DType::F16) return round_to<half>(x);
  return x;
}

// The expected result of op over all ranks: exact in fp64, rounded to fp32, scaled for the mean
// (fp32 multiply by 1/world), rounded once to dt.
float expected(int world, int64_t i, DType dt, ReduceOp op) {
  double s = 0.0, m = -INFINITY;
  for (int r = 0; r < world; ++r) {
    s += contributed(r, i, dt);
    m = std::max(m, static_cast<double>(contributed(r, i, dt)));
  }
  float v = op == ReduceOp::Max ? static_cast<float>(m) : static_cast<float>(s);
  if (op == ReduceOp::Mean) v = v * (1.0f / static_cast<float>(world));
  if (dt == DType::BF16) return round_to<bfloat16>(v);
  if (dt == DType::F16) return round_to<half>(v);
  return v;
}

Tensor make_input(Backend& be, int rank, int64_t n, DType dt) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = input(rank, i);
  return from_host_floats(be, v, {n}, dt);
}

std::string label(const char* what, DType dt, ReduceOp op, int64_t n) {
  return std::string(what) + " " + reduce_op_name(op) + " " + std::string(dtype_name(dt)) + "[" +
         std::to_string(n) + "]";
}

void check_values(const std::string& what, const std::vector<float>& got, int64_t begin,
                  int world, DType dt, ReduceOp op) {
  int bad = 0;
  for (size_t j = 0; j < got.size(); ++j) {
    const int64_t i = begin + static_cast<int64_t>(j);
    const float want = expected(world, i, dt, op);
    if (got[j] != want && bad++ < 3)
      std::fprintf(stderr, "rank %d: %s: element %lld is %.9g, expected %.9g\n", g_rank,
                   what.c_str(), static_cast<long long>(i), got[j], want);
  }
  expect(bad == 0, what);
}

void check_all_reduce(Backend& be, Communicator& comm) {
  const int world = comm.world_size();
  for (DType dt : {DType::F32, DType::BF16, DType::F16})
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max}) {
      const int64_t n = 1000;
      Tensor x = make_input(be, comm.rank(), n, dt).reshape({10, 100});  // any shape: taken flat
      comm.all_reduce(x, op);
      check_values(label("all_reduce", dt, op, n), to_host_floats(be, x), 0, world, dt, op);
    }
  // The halfway element of the 16-bit inputs: 1 + (world - 1) * 2^-8 in fp32, rounded once.
  Tensor h = make_input(be, comm.rank(), 1, DType::BF16);
  comm.all_reduce(h, ReduceOp::Sum);
  const float want = world >= 3 ? 1.0078125f : 1.0f;
  expect(to_host_floats(be, h)[0] == want,
         "bf16 all_reduce of 1 + 2^-8 + ... rounds once, from the fp32 sum");

  // int32: sum and max (found_inf flags, counts).
  Tensor ints = be.empty({3}, DType::I32);
  const int32_t mine[3] = {comm.rank() + 1, comm.rank() == world - 1 ? 7 : 0, -comm.rank()};
  be.upload(mine, ints);
  Tensor imax = be.empty({3}, DType::I32);
  be.copy(ints, imax);
  comm.all_reduce(ints, ReduceOp::Sum);
  comm.all_reduce(imax, ReduceOp::Max);
  int32_t s[3], m[3];
  be.download(ints, s);
  be.download(imax, m);
  expect(s[0] == world * (world + 1) / 2 && s[1] == 7 && s[2] == -world * (world - 1) / 2,
         "int32 all_reduce sum");
  expect(m[0] == world && m[1] == 7 && m[2] == 0, "int32 all_reduce max");

  expect(comm.any(comm.rank() == world - 1), "any(): true on the last rank only -> true");
  expect(!comm.any(false), "any(): false everywhere -> false");
}

void check_shards(Backend& be, Communicator& comm) {
  const int world = comm.world_size(), rank = comm.rank();
  for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{1001}})
    for (DType dt : {DType::F32, DType::BF16, DType::F16})
      for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max}) {
        const ShardRange r = shard_range(n, world, rank);
        Tensor full = make_input(be, rank, n, dt);
        Tensor shard = be.empty({r.count}, dt);
        comm.reduce_scatter(full, shard, op);
        check_values(label("reduce_scatter", dt, op, n), to_host_floats(be, shard), r.begin,
                     world, dt, op);
        // Round trip: every rank's reduced shard gathered back is the whole all-reduced buffer.
        Tensor gathered = be.empty({n}, dt);
        comm.all_gather(shard, gathered);
        check_values(label("all_gather after reduce_scatter", dt, op, n),
                     to_host_floats(be, gathered), 0, world, dt, op);
        // In place: the shard is the full buffer's own range (what a sharded optimizer keeps).
        Tensor own = full.flat_range(r.begin, r.count);
        be.copy(shard, own);
        comm.all_gather(own, full);
        check_values(label("in-place all_gather", dt, op, n), to_host_floats(be, full), 0, world,
                     dt, op);
      }
}

void check_broadcast_barrier(Backend& be, Communicator& comm, const std::string& dir) {
  const int world = comm.world_size(), root = world - 1;
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
    Tensor x = make_input(be, comm.rank(), 513, dt);
    comm.broadcast(x, root);
    const std::vector<float> got = to_host_floats(be, x);
    bool same = true;
    for (int64_t i = 0; i < 513; ++i) same &= got[static_cast<size_t>(i)] == contributed(root, i, dt);
    expect(same, "broadcast " + std::string(dtype_name(dt)) + " from the last rank");
  }
  // Barrier: rank 0 writes a file late; no rank may pass the barrier before it exists.
  const std::string flag = dir + "/barrier_flag";
  if (comm.rank() == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::ofstream(flag) << "written before the barrier\n";
  }
  comm.barrier();
  expect(std::ifstream(flag).good(), "barrier: rank 0's file exists after the barrier");
  comm.barrier();  // nobody removes it while another rank still looks
}

void check_identity(Communicator& comm) {
  const LaunchEnv env = read_launch_env();
  expect(env.launched && env.world_size == comm.world_size() && env.rank == comm.rank(),
         "launch env agrees with MPI (" + env.source + ")");
  expect(comm.name().rfind("mpi (Open MPI", 0) == 0, "name is mpi (...): " + comm.name());
  // Local rank: from OMPI_COMM_WORLD_LOCAL_RANK, and the same from MPI when the variable is gone.
  LaunchEnv no_local = env;
  no_local.local_rank = -1;
  expect(comm.local_rank() == env.local_rank && mpi_world(no_local).local_rank == env.local_rank,
         "local rank from the environment and from MPI_Comm_split_type agree");
  try {
    mpi_check(MPI_ERR_COUNT, "MPI_Bcast", "mpi: rank 1 of 2");
    expect(false, "mpi_check throws on an MPI error");
  } catch (const CommError& e) {
    const std::string m = e.what();
    expect(m.find("mpi: rank 1 of 2: MPI_Bcast failed: MPI_ERR_COUNT") == 0 && e.exit_code() == 1,
           "mpi_check message: " + m);
  }
}

int collectives(const std::string& dir) {
  auto be = make_cpu_backend(1);
  auto comm = make_communicator(*be);
  g_rank = comm->rank();
  check_identity(*comm);
  check_all_reduce(*be, *comm);
  check_shards(*be, *comm);
  check_broadcast_barrier(*be, *comm, dir);
  if (g_failures) return 1;
  std::printf("rank %d: ok (%d checks, %s, world %d)\n", g_rank, g_checks, comm->name().c_str(),
              comm->world_size());
  return 0;
}

// The last rank fails after the barrier; the others then wait in an all-reduce that can only
// end when mpirun ends them.
int failing(const std::string& how) {
  auto be = make_cpu_backend(1);
  auto comm = make_communicator(*be);
  g_rank = comm->rank();
  comm->barrier();
  if (comm->rank() == comm->world_size() - 1) {
    std::fprintf(stderr, "rank %d: failing now (%s)\n", g_rank, how.c_str());
    if (how == "kill") std::raise(SIGKILL);
    if (how == "no_finish") std::exit(0);  // the exit handler aborts the job
    throw DataError("deliberate error on the last rank");
  }
  Tensor x = make_input(*be, comm->rank(), 16, DType::F32);
  comm->all_reduce(x, ReduceOp::Sum);
  std::fprintf(stderr, "rank %d: the all-reduce returned although a peer failed\n", g_rank);
  return 1;
}

int probe(int argc, char** argv) {
  auto be = make_cpu_backend(0);  // 0: OMP_NUM_THREADS, as mptrain's `threads: 0`
  auto comm = make_communicator(*be);
  cpu_set_t set;
  CPU_ZERO(&set);
  sched_getaffinity(0, sizeof set, &set);
  const char* omp = std::getenv("OMP_NUM_THREADS");
  std::string args;
  for (int i = 2; i < argc; ++i) args += std::string(i > 2 ? " " : "") + argv[i];
  // One line per rank, written at once so that lines of different ranks do not interleave.
  const std::string line = "probe rank=" + std::to_string(comm->rank()) +
                           " world=" + std::to_string(comm->world_size()) +
                           " local_rank=" + std::to_string(comm->local_rank()) +
                           " omp=" + (omp ? omp : "unset") +
                           " cpus=" + std::to_string(CPU_COUNT(&set)) + " backend=" + be->name() +
                           " args=" + args + "\n";
  std::fputs(line.c_str(), stdout);
  comm->barrier();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  int rc = 1;
  try {
    if (mode == "collectives" && argc == 3)
      rc = collectives(argv[2]);
    else if (mode == "fail" || mode == "kill" || mode == "no_finish")
      rc = failing(mode);
    else if (mode == "probe")
      rc = probe(argc, argv);
    else
      std::fprintf(stderr, "usage: dist_check collectives DIR | fail | kill | no_finish | probe ARGS\n");
  } catch (const Error& e) {
    std::fprintf(stderr, "dist_check: rank %d: error: %s\n", g_rank, e.what());
    rc = e.exit_code();
  }
  return finish_process(rc);
}
