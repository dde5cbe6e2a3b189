// mpi_runtime.h: the process-wide MPI state, without MPI's header (CPU code includes this).
// Defined in mpi/mpi_runtime.cpp when MPI was found at build time, else as stubs in
// communicator_factory.cpp (MPI is then never initialised).
#pragma once
#include <cstddef>
#include <string>

#include "dist/launch_env.h"

namespace mp::dist {

// Whether this mptrain was built with MPI.
bool mpi_built();
// Whether MPI_Init has run in this process (by make_communicator or by the host program).
bool mpi_is_initialized();

// Ends this process's part of a multi-process job; call it last, with the exit code the process
// is about to return. 0: MPI_Finalize, which waits for the other ranks to reach theirs. Non-zero:
// MPI_Abort with that code, so mpirun ends every rank at once and reports which one failed,
// instead of leaving the others waiting in a collective (a rank that returns non-zero without
// this also ends the job, as does one that is killed: mpirun notices the exit). Returns
// exit_code; does nothing when MPI was never initialised. If MPI was initialised and the
// process exits without calling this, an exit handler aborts the job with code 1 (a rank that
// skipped MPI_Finalize would otherwise be reported as a failure anyway, or block a peer).
int finish_process(int exit_code);
// "rank R: " while MPI runs this process as one of several, else "": the prefix of the error
// line main() prints, so a multi-process job's messages name the rank they came from.
std::string process_prefix();

// ---- for the implementations (mpi/, nccl/) ---------------------------------------------------
struct MpiWorld {
  int rank = 0, size = 1, local_rank = 0;
};
// Initialises MPI once per process (MPI_THREAD_FUNNELED: only the thread that created the
// communicator calls it), checks it against the launcher variables (ConfigError when srun or
// mpirun announced more processes than MPI sees) and returns this process's place in it.
MpiWorld mpi_world(const LaunchEnv& env);
// MPI_Bcast of host bytes over MPI_COMM_WORLD (the NCCL unique id).
void mpi_broadcast_bytes(void* data, size_t n, int root);

}  // namespace mp::dist
