// dist_communicator: what runs in one process: shard ranges, the launcher variables, and the
// single-process communicator (what make_communicator returns outside mpirun). The collectives
// across processes are checked under mpirun by tests/dist.
#include <doctest/doctest.h>

#include <cstdlib>
#include <map>
#include <string>

#include "backend/backend.h"
#include "dist/communicator.h"
#include "dist/launch_env.h"
#include "dist/mpi_runtime.h"

using namespace mp;
using namespace mp::dist;

namespace {

LaunchEnv env_of(const std::map<std::string, std::string>& vars) {
  return read_launch_env([&](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

std::string config_error_of(const std::map<std::string, std::string>& vars) {
  try {
    env_of(vars);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("shard_range: contiguous shards in rank order, sizes differ by at most one") {
  for (int world : {1, 2, 3, 4, 7})
    for (int64_t n : {0, 1, 2, 3, 7, 10, 1001}) {
      int64_t next = 0;
      for (int r = 0; r < world; ++r) {
        const ShardRange s = shard_range(n, world, r);
        CHECK(s.begin == next);
        CHECK((s.count == n / world || s.count == n / world + 1));
        CHECK(s.count == n / world + (r < n % world ? 1 : 0));
        next += s.count;
      }
      CHECK(next == n);
    }
  CHECK(shard_range(7, 3, 0).count == 3);
  CHECK(shard_range(7, 3, 2).begin == 5);
}

TEST_CASE("launch env: Open MPI, PMI, PMIx + Slurm, plain srun, nothing") {
  LaunchEnv e = env_of({});
  CHECK(!e.launched);

  e = env_of({{"OMPI_COMM_WORLD_SIZE", "4"}, {"OMPI_COMM_WORLD_RANK", "3"},
              {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}, {"PMI_SIZE", "9"}});
  CHECK(e.launched);
  CHECK(e.world_size == 4);
  CHECK(e.rank == 3);
  CHECK(e.local_rank == 1);
  CHECK(e.source == "OMPI_COMM_WORLD_SIZE=4");

  e = env_of({{"PMI_SIZE", "2"}, {"PMI_RANK", "1"}, {"MPI_LOCALRANKID", "0"}});
  CHECK((e.launched && e.world_size == 2 && e.rank == 1 && e.local_rank == 0));

  // srun --mpi=pmix: the rank from PMIx, the size and local rank from the step's variables.
  e = env_of({{"PMIX_RANK", "5"}, {"SLURM_STEP_NUM_TASKS", "8"}, {"SLURM_LOCALID", "1"}});
  CHECK((e.launched && e.world_size == 8 && e.rank == 5 && e.local_rank == 1));
  e = env_of({{"PMIX_RANK", "0"}});  // size unknown until MPI is initialised
  CHECK((e.launched && e.world_size == 0 && e.rank == 0 && e.local_rank == -1));

  // Plain srun of two tasks (no MPI plugin): counted, so that MPI's world of 1 is refused.
  e = env_of({{"SLURM_STEP_NUM_TASKS", "2"}, {"SLURM_PROCID", "1"}, {"SLURM_LOCALID", "1"}});
  CHECK((e.launched && e.world_size == 2 && e.rank == 1));
  // One task, or the batch script of an allocation (SLURM_NTASKS only): a single process.
  CHECK(!env_of({{"SLURM_STEP_NUM_TASKS", "1"}, {"SLURM_PROCID", "0"}}).launched);
  CHECK(!env_of({{"SLURM_NTASKS", "4"}, {"SLURM_PROCID", "0"}}).launched);
}

TEST_CASE("launch env: malformed variables are config errors naming the variable") {
  CHECK(config_error_of({{"OMPI_COMM_WORLD_SIZE", "two"}, {"OMPI_COMM_WORLD_RANK", "0"}})
            .find("OMPI_COMM_WORLD_SIZE=\"two\": expected a non-negative integer") !=
        std::string::npos);
  CHECK(config_error_of({{"OMPI_COMM_WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_RANK", "-1"}})
            .find("OMPI_COMM_WORLD_RANK=\"-1\"") != std::string::npos);
  CHECK(config_error_of({{"OMPI_COMM_WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_RANK", "2"}})
            .find("rank 2 is not below the world size 2") != std::string::npos);
  CHECK(config_error_of({{"PMI_SIZE", "2x"}}).find("PMI_SIZE") != std::string::npos);
}

TEST_CASE("single process: outside mpirun make_communicator needs no MPI and changes nothing") {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SLURM_STEP_NUM_TASKS"})
    REQUIRE(std::getenv(v) == nullptr);  // ctest does not run this under a launcher
  auto be = make_cpu_backend(1);
  auto comm = make_communicator(*be);
  CHECK(comm->name() == "single process");
  CHECK(comm->rank() == 0);
  CHECK(comm->world_size() == 1);
  CHECK(comm->local_rank() == 0);
  CHECK(!mpi_is_initialized());

  const std::vector<float> v = {1.5f, -2.25f, 3.0e-3f, 65504.0f, 7.0f};
  for (DType dt : {DType::F32, DType::BF16, DType::F16})
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max}) {
      CAPTURE(dtype_name(dt));
      CAPTURE(reduce_op_name(op));
      Tensor x = from_host_floats(*be, v, {5}, dt);
      const std::vector<float> before = to_host_floats(*be, x);
      comm->all_reduce(x, op);
      CHECK(to_host_floats(*be, x) == before);  // one rank: sum = mean = max = the value

      Tensor shard = be->empty({5}, dt);
      comm->reduce_scatter(x, shard, op);
      CHECK(to_host_floats(*be, shard) == before);
      Tensor full = be->empty({5}, dt);
      comm->all_gather(shard, full);
      CHECK(to_host_floats(*be, full) == before);
      comm->all_gather(full.flat_range(0, 5), full);  // in place
      CHECK(to_host_floats(*be, full) == before);
    }
  Tensor x = from_host_floats(*be, v, {5}, DType::BF16);
  comm->broadcast(x, 0);
  comm->barrier();
  CHECK(comm->any(true));
  CHECK(!comm->any(false));
  CHECK(finish_process(0) == 0);  // nothing to finish without MPI
}

TEST_CASE("communicator argument checks are internal errors naming the problem") {
  auto be = make_cpu_backend(1);
  auto comm = make_single_communicator(*be);
  Tensor ints = be->empty({3}, DType::I32);
  CHECK_THROWS_WITH_AS(comm->all_reduce(ints, ReduceOp::Mean),
                       doctest::Contains("cannot mean int32[3]"), InternalError);
  Tensor full = be->empty({4}, DType::F32);
  Tensor wrong = be->empty({3}, DType::F32);
  CHECK_THROWS_WITH_AS(comm->reduce_scatter(full, wrong, ReduceOp::Sum),
                       doctest::Contains("rank 0 of 1 owns 4 of the 4 elements"), InternalError);
  Tensor half_shard = be->empty({4}, DType::F16);
  CHECK_THROWS_AS(comm->all_gather(half_shard, full), InternalError);
  CHECK_THROWS_WITH_AS(comm->reduce_scatter(full, full, ReduceOp::Sum),
                       doctest::Contains("must not overlap"), InternalError);
  CHECK_THROWS_WITH_AS(comm->broadcast(full, 1), doctest::Contains("root 1 is not a rank"),
                       InternalError);
}
