// mpi_check.h: turning an MPI return code into an exception. Communicators set MPI_ERRORS_RETURN
// on their MPI communicator, so a failed call returns here instead of aborting the process.
// Included only by files compiled with MPI (mpi/, nccl/).
#pragma once
#include <mpi.h>

#include <string>

namespace mp::dist {

// MPI's text for an error code: "MPI_ERR_TRUNCATE: message truncated".
std::string mpi_error_text(int rc);
// Throws CommError("<where>: <call> failed: <MPI's text>") unless rc is MPI_SUCCESS.
void mpi_check(int rc, const char* call, const std::string& where);
// The MPI type that copies elements of `bytes` bytes bit for bit (2, 4 or 8).
MPI_Datatype mpi_bits_type(size_t bytes);

}  // namespace mp::dist
