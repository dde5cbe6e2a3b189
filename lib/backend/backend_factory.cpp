// backend_factory.cpp: make_backend (BackendOptions -> the engine it names, with its settings),
// the stand-ins for the CUDA engine's entry points in a build without it, and the host copies.
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_options.h"

namespace mp {

#if !defined(MPTRAIN_HAVE_CUDA)
int cuda_device_count() { return 0; }
bool set_allow_tf32(Backend&, bool) { return false; }
std::unique_ptr<Backend> make_cuda_backend(int, const BackendOptions&) {
  throw ConfigError("device: cuda was requested but this mptrain was built without the CUDA "
                    "backend (nvcc was not found at build time); use --device cpu or rebuild with "
                    "-DMPTRAIN_CUDA=ON");
}
#endif

std::unique_ptr<Backend> make_backend(const BackendOptions& opt) {
  const std::string& device = opt.device;
  if (device == "cpu") return make_cpu_backend(opt.threads);
  if (device == "cuda") {
    if (cuda_device_count() == 0)
      throw ConfigError("device: cuda was requested but no usable CUDA GPU was found (no driver "
                        "or no device); use --device cpu or --device auto");
    return make_cuda_backend(0, opt);
  }
  if (device == "auto") {
    if (cuda_device_count() > 0) {
      try {
        return make_cuda_backend(0, opt);
      } catch (const ConfigError&) {
        // a GPU is present but this build cannot drive it: the CPU engine runs instead
      }
    }
    return make_cpu_backend(opt.threads);
  }
  throw ConfigError("device: expected one of auto, cpu, cuda, got \"" + device + "\"");
}

std::vector<float> to_host_floats(Backend& be, const Tensor& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::F32) {
    be.download(t, out.data());
    return out;
  }
  Tensor tmp = be.empty(t.shape(), DType::F32);
  be.cast(t, tmp);
  be.download(tmp, out.data());
  return out;
}

Tensor from_host_floats(Backend& be, const std::vector<float>& v, const Shape& s, DType dt) {
  MP_CHECK(static_cast<int64_t>(v.size()) == shape_numel(s), "from_host_floats: size mismatch");
  Tensor f = be.empty(s, DType::F32);
  be.upload(v.data(), f);
  if (dt == DType::F32) return f;
  Tensor out = be.empty(s, dt);
  be.cast(f, out);
  return out;
}

}  // namespace mp
