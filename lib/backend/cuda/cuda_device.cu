// cuda_device.cu: GPU discovery. Without a driver or a GPU, cudaGetDeviceCount fails ("CUDA
// driver version is insufficient"): any error there means "no GPU", never a crash.
#include <cuda_runtime.h>

#include "backend/backend.h"

namespace mp {

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky error
    return 0;
  }
  return n;
}

}  // namespace mp
