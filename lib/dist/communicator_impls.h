// communicator_impls.h: the constructors make_communicator chooses from. Each lives in its own
// file (mpi/, nccl/) compiled only when its library was found; this header names no MPI, NCCL
// or CUDA type.
#pragma once
#include <memory>

#include "dist/communicator.h"
#include "dist/launch_env.h"

namespace mp::dist {

// MPI_COMM_WORLD of the processes mpirun/srun started; host (CPU engine) tensors only.
std::unique_ptr<Communicator> make_mpi_communicator(Backend& backend, const LaunchEnv& env);
// NCCL over the GPUs of a CUDA backend, one per process; the unique id travels over MPI.
std::unique_ptr<Communicator> make_nccl_communicator(Backend& backend, const LaunchEnv& env);

}  // namespace mp::dist
