// cuda_options.cpp: the CUDA-free side of cuda_options.h. Built into mptrain_backend in every
// build (not into mptrain_backend_cuda), so callers link whether or not nvcc was found; with the
// CUDA backend it forwards to the engine (cuda_backend.cpp).
#include "backend/cuda/cuda_options.h"

namespace mp {

#if defined(MPTRAIN_HAVE_CUDA)
// Defined in cuda_backend.cpp.
bool cuda_backend_set_allow_tf32(Backend& be, bool allow);

bool set_allow_tf32(Backend& be, bool allow) {
  if (be.device() != Device::CUDA) return false;
  return cuda_backend_set_allow_tf32(be, allow);
}
#else
bool set_allow_tf32(Backend&, bool) { return false; }

std::unique_ptr<Backend> make_cuda_backend(int ordinal, const CudaOptions&) {
  return make_cuda_backend(ordinal);  // the factory's ConfigError for a build without CUDA
}
#endif

}  // namespace mp
