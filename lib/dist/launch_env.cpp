// launch_env.cpp: the launcher variables, in the order of trust: Open MPI's own, then PMI, then
// PMIx with Slurm's step variables. Slurm's variables alone also count when the step has more
// than one task, so that `srun -n 2 mptrain` without an MPI plugin is refused (make_communicator
// sees MPI report a world of 1) instead of training two unrelated copies.
#include "dist/launch_env.h"

#include <cstdlib>

#include "core/error.h"

namespace mp::dist {

namespace {

// -1 when unset; the value when it is a non-negative integer; ConfigError otherwise.
int env_int(const std::function<const char*(const char*)>& get, const char* name) {
  const char* v = get(name);
  if (!v) return -1;
  const std::string s(v);
  size_t used = 0;
  long n = -1;
  try {
    n = std::stol(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (s.empty() || used != s.size() || n < 0 || n > 1'000'000'000)
    throw ConfigError("environment variable " + std::string(name) + "=\"" + s +
                      "\": expected a non-negative integer (it is set by mpirun/srun; unset it "
                      "when not launching a multi-process job)");
  return static_cast<int>(n);
}

}  // namespace

LaunchEnv read_launch_env(const std::function<const char*(const char*)>& get) {
  LaunchEnv e;
  const auto take = [&](const char* size, const char* rank, const char* local) {
    e.world_size = size ? env_int(get, size) : -1;
    e.rank = env_int(get, rank);
    e.local_rank = local ? env_int(get, local) : -1;
    if (e.world_size < 0) e.world_size = 0;
    e.launched = true;
    e.source = std::string(size ? size : rank) + "=" + get(size ? size : rank);
  };
  if (get("OMPI_COMM_WORLD_SIZE")) {
    take("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK");
  } else if (get("PMI_SIZE")) {
    take("PMI_SIZE", "PMI_RANK", get("MPI_LOCALRANKID") ? "MPI_LOCALRANKID" : "SLURM_LOCALID");
  } else if (get("PMIX_RANK")) {
    take(get("SLURM_STEP_NUM_TASKS") ? "SLURM_STEP_NUM_TASKS" : nullptr, "PMIX_RANK",
         "SLURM_LOCALID");
  } else if (env_int(get, "SLURM_STEP_NUM_TASKS") > 1) {
    take("SLURM_STEP_NUM_TASKS", "SLURM_PROCID", "SLURM_LOCALID");
  }
  if (e.launched && e.world_size > 0 && e.rank >= e.world_size)
    throw ConfigError("environment: rank " + std::to_string(e.rank) + " is not below the world " +
                      "size " + std::to_string(e.world_size) + " (" + e.source + ")");
  return e;
}

LaunchEnv read_launch_env() {
  return read_launch_env([](const char* name) { return static_cast<const char*>(std::getenv(name)); });
}

}  // namespace mp::dist
