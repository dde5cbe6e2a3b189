// Temporary until cuda_backend.cu lands: the CUDA engine is not implemented yet.
#include "backend/backend.h"

namespace mp {
std::unique_ptr<Backend> make_cuda_backend(int) {
  throw ConfigError("device: the CUDA backend is not implemented yet in this build; use --device cpu");
}
}  // namespace mp
