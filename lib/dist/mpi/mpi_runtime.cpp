// mpi_runtime.cpp: MPI initialised once per process, checked against the launcher's variables,
// and ended by finish_process (MPI_Finalize on success, MPI_Abort on failure).
#include "dist/mpi_runtime.h"

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>

#include "dist/communicator.h"
#include "dist/mpi/mpi_check.h"

namespace mp::dist {

namespace {

bool g_we_initialized = false;  // MPI_Init was ours: so is ending it
bool g_finished = false;        // finish_process ran

bool finalized() {
  int f = 0;
  MPI_Finalized(&f);
  return f != 0;
}

int world_rank() {
  int r = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

// A process that initialised MPI and exits without finish_process: MPI_Finalize here could wait
// forever for a peer that is itself waiting in a collective, so the job is aborted instead.
void exit_without_finish() {
  if (g_finished || finalized()) return;
  std::fprintf(stderr,
               "mptrain: rank %d: exiting without dist::finish_process; aborting the MPI job\n",
               world_rank());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
}

void init_once() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) return;
  if (finalized())
    throw InternalError("MPI was already finalized in this process; it cannot start again");
  int provided = 0;
  const int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  if (rc != MPI_SUCCESS) throw CommError("MPI_Init_thread failed: " + mpi_error_text(rc));
  g_we_initialized = true;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  std::atexit(exit_without_finish);
}

std::string world_where() {
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return "rank " + std::to_string(world_rank()) + " of " + std::to_string(size);
}

}  // namespace

std::string mpi_error_text(int rc) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(rc);
  return std::string(text, static_cast<size_t>(len));
}

void mpi_check(int rc, const char* call, const std::string& where) {
  if (rc != MPI_SUCCESS) throw CommError(where + ": " + call + " failed: " + mpi_error_text(rc));
}

MPI_Datatype mpi_bits_type(size_t bytes) {
  switch (bytes) {
    case 2: return MPI_UINT16_T;
    case 4: return MPI_UINT32_T;
    case 8: return MPI_UINT64_T;
    default: break;
  }
  MP_CHECK(false, "mpi_bits_type: no MPI type for " + std::to_string(bytes) + "-byte elements");
  return MPI_BYTE;
}

bool mpi_built() { return true; }

bool mpi_is_initialized() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  return initialized != 0 && !finalized();
}

int finish_process(int exit_code) {
  if (!mpi_is_initialized() || g_finished) return exit_code;
  g_finished = true;
  if (exit_code != 0) {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, exit_code);
  }
  if (g_we_initialized) MPI_Finalize();
  return exit_code;
}

std::string process_prefix() {
  if (!mpi_is_initialized()) return "";
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size > 1 ? "rank " + std::to_string(world_rank()) + ": " : "";
}

MpiWorld mpi_world(const LaunchEnv& env) {
  init_once();
  MpiWorld w;
  MPI_Comm_rank(MPI_COMM_WORLD, &w.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &w.size);
  if (env.launched && env.world_size > 0 && env.world_size != w.size)
    throw ConfigError("the launcher started " + std::to_string(env.world_size) + " processes (" +
                      env.source + ") but MPI sees a world of " + std::to_string(w.size) +
                      ": MPI was not told about the job (with srun, pass --mpi=pmix or "
                      "--mpi=pmi2; or start it with scripts/launch.sh)");
  if (env.launched && env.rank >= 0 && env.rank != w.rank)
    throw ConfigError("the launcher says this is rank " + std::to_string(env.rank) + " (" +
                      env.source + ") but MPI says rank " + std::to_string(w.rank));
  if (env.local_rank >= 0) {
    w.local_rank = env.local_rank;
  } else {  // the ranks that share this node's memory, numbered in world-rank order
    MPI_Comm node = MPI_COMM_NULL;
    mpi_check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w.rank, MPI_INFO_NULL,
                                  &node),
              "MPI_Comm_split_type", world_where());
    MPI_Comm_rank(node, &w.local_rank);
    MPI_Comm_free(&node);
  }
  return w;
}

void mpi_broadcast_bytes(void* data, size_t n, int root) {
  MP_CHECK(n <= static_cast<size_t>(INT_MAX), "mpi_broadcast_bytes: too many bytes");
  mpi_check(MPI_Bcast(data, static_cast<int>(n), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast",
            world_where());
}

}  // namespace mp::dist
