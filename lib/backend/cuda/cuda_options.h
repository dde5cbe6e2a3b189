// cuda_options.h: a CUDA engine setting changed on a live backend, for the CUDA parity tests and
// benchmarks that compare both settings on one backend's tensors (a run sets it once, through
// BackendOptions::allow_tf32 and make_backend). CUDA-free and defined in every build
// (backend_factory.cpp without the CUDA backend, cuda_backend.cpp with it).
#pragma once
#include "backend/backend.h"

namespace mp {

// BackendOptions::allow_tf32 for an existing backend. Returns true when `be` is a CUDA backend and
// the setting was applied; false (and nothing changes) for the CPU backend, which never uses
// TF32. Takes effect from the next GEMM.
bool set_allow_tf32(Backend& be, bool allow);

}  // namespace mp
