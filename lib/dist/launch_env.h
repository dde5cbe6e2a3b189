// launch_env.h: how this process was started, read from the variables launchers set, before
// (and without) MPI: whether it is one rank of a multi-process job, its rank, the world size and
// its rank on the node. mpirun (Open MPI) sets OMPI_COMM_WORLD_{SIZE,RANK,LOCAL_RANK}; MPICH's
// mpiexec and srun --mpi=pmi2 set PMI_{SIZE,RANK} (MPI_LOCALRANKID with MPICH); srun --mpi=pmix
// sets PMIX_RANK and Slurm's SLURM_STEP_NUM_TASKS, SLURM_PROCID, SLURM_LOCALID.
#pragma once
#include <functional>
#include <string>

namespace mp::dist {

struct LaunchEnv {
  bool launched = false;  // some launcher variable says this process is one rank of a job
  int world_size = 0;     // 0: unknown until MPI is initialised
  int rank = -1;          // -1: unknown
  int local_rank = -1;    // -1: unknown (MPI finds it: ranks sharing this node's memory)
  std::string source;     // the variables it came from, for messages: "OMPI_COMM_WORLD_SIZE=2"
};

// Reads the process environment. A variable that is set but not a non-negative integer is a
// ConfigError naming it.
LaunchEnv read_launch_env();
// The same from any lookup (tests): get(name) returns the value or nullptr.
LaunchEnv read_launch_env(const std::function<const char*(const char*)>& get);

}  // namespace mp::dist
