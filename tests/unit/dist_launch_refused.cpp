// dist_launch_refused: a launch that asks for more processes than this process can join is a
// ConfigError (exit 2), never a silent single-process run: `srun -n 2` without an MPI plugin
// (MPI then sees a world of 1), or any multi-rank launch of a build without MPI. Its own test
// executable: MPI can be initialised only once per process.
#include <doctest/doctest.h>

#include <cstdlib>

#include "backend/backend.h"
#include "dist/communicator.h"
#include "dist/mpi_runtime.h"

using namespace mp;
using namespace mp::dist;

TEST_CASE("srun -n 2 without an MPI plugin is refused, naming the variable and the fix") {
  // What plain srun sets for the second of two tasks; MPI_Init then starts a world of 1.
  setenv("SLURM_STEP_NUM_TASKS", "2", 1);
  setenv("SLURM_PROCID", "0", 1);
  auto be = make_cpu_backend(1);
  const std::string want = mpi_built() ? "MPI sees a world of 1: MPI was not told about the job "
                                         "(with srun, pass --mpi=pmix"
                                       : "built without MPI; install libopenmpi-dev";
  CHECK_THROWS_WITH_AS(make_communicator(*be), doctest::Contains(want.c_str()), ConfigError);
  CHECK_THROWS_WITH_AS(make_communicator(*be), doctest::Contains("SLURM_STEP_NUM_TASKS=2"),
                       ConfigError);
  unsetenv("SLURM_STEP_NUM_TASKS");
  unsetenv("SLURM_PROCID");
  CHECK(finish_process(0) == 0);  // MPI_Finalize when it was initialised (else the exit aborts)
}
