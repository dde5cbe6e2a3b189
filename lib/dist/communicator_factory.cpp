// communicator_factory.cpp: make_communicator picks the implementation from how the process was
// started (launch_env.h) and the engine; without MPI or NCCL at build time it defines the stubs,
// so a build without them runs single-process and refuses a multi-process launch clearly.
#include "backend/backend.h"
#include "backend/env_flag.h"
#include "dist/communicator_impls.h"
#include "dist/mpi_runtime.h"

namespace mp::dist {

#if !defined(MPTRAIN_HAVE_MPI)
bool mpi_built() { return false; }
bool mpi_is_initialized() { return false; }
int finish_process(int exit_code) { return exit_code; }
std::string process_prefix() { return ""; }
MpiWorld mpi_world(const LaunchEnv&) {
  throw InternalError("mpi_world: this mptrain was built without MPI");
}
void mpi_broadcast_bytes(void*, size_t, int) {
  throw InternalError("mpi_broadcast_bytes: this mptrain was built without MPI");
}
std::unique_ptr<Communicator> make_mpi_communicator(Backend&, const LaunchEnv&) {
  throw InternalError("make_mpi_communicator: this mptrain was built without MPI");
}
#endif
#if !defined(MPTRAIN_HAVE_NCCL)
std::unique_ptr<Communicator> make_nccl_communicator(Backend&, const LaunchEnv& env) {
  throw ConfigError("this process is one of a multi-process job (" + env.source +
                    ") on the CUDA engine, but this mptrain was built without NCCL (it needs "
                    "the CUDA toolkit's nccl.h and libnccl, and MPI); rebuild with them, or "
                    "train with --device cpu");
}
#endif

std::unique_ptr<Communicator> make_communicator(Backend& backend) {
  const LaunchEnv env = read_launch_env();
  // MPTRAIN_DIST_FORCE=1: a one-rank job still gets the MPI (or, on the CUDA engine, NCCL)
  // communicator, so the collectives can be exercised on one device (scripts/gpu_check.sh);
  // normally one rank is a single process without MPI. Under mpirun -np 1 as launched; started
  // directly, the CPU engine gets a singleton MPI world (MPI_Init without a launcher) and the
  // CUDA engine a one-rank NCCL communicator that needs no MPI at all (a GPU machine with the
  // NCCL library but no Open MPI runtime can still run it).
  const bool forced = env_flag("MPTRAIN_DIST_FORCE");
  const bool multi = (env.launched && env.world_size != 1) || forced || mpi_is_initialized();
  if (!multi) return make_single_communicator(backend);
  if (!mpi_built())
    throw ConfigError("this process is one of a multi-process job (" + env.source +
                      ") but this mptrain was built without MPI; install libopenmpi-dev "
                      "(scripts/setup.sh) and rebuild, or run a single process");
  if (backend.device() == Device::CUDA) return make_nccl_communicator(backend, env);
  return make_mpi_communicator(backend, env);
}

}  // namespace mp::dist
