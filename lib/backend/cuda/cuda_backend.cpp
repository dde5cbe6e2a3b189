// cuda_backend.cpp: CudaBackend construction (device, stream, allocator, GEMM engine), its name,
// memory (empty/upload/download/copy/synchronize), the GEMM hook, fp32 staging of mixed-dtype
// operands, and make_cuda_backend() / set_allow_tf32 (cuda_options.h).
#include "backend/cuda/cuda_backend.h"

#include <cuda_runtime_api.h>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_gemm.h"
#include "backend/cuda/cuda_options.h"

namespace mp::cuda {

namespace {

// The device this thread last made current through bind_device() (-1: none yet).
thread_local int t_bound_device = -1;

void check_device_available(int ordinal) {
  const int n = cuda_device_count();
  if (n == 0)
    throw ConfigError(
        "device: cuda was requested but no usable CUDA GPU was found (no driver or "
        "no device); use --device cpu or --device auto");
  if (ordinal < 0 || ordinal >= n)
    throw ConfigError("device: CUDA device " + std::to_string(ordinal) + " does not exist (" +
                      std::to_string(n) + " found)");
}

}  // namespace

CudaBackend::CudaBackend(int ordinal, const BackendOptions& opt)
    : ordinal_(ordinal),
      allow_tf32_(opt.allow_tf32),
      alloc_(std::make_shared<CachingAllocator>()),
      partials_(alloc_),
      flags_(alloc_),
      check_table_(alloc_),
      update_table_(alloc_),
      workspace_{DeviceScratch(alloc_), DeviceScratch(alloc_), DeviceScratch(alloc_),
                 DeviceScratch(alloc_)} {
  static_assert(kWorkspaceSlots == 4, "one DeviceScratch(alloc_) per workspace slot above");
  (void)sync_check_enabled();  // a bad MPTRAIN_CUDA_SYNC_CHECK fails here, as a ConfigError
  check_device_available(ordinal);
  // A GPU that is present but cannot be set up (busy, broken driver state) is an environment
  // problem: a ConfigError, so that --device auto falls back to the CPU engine.
  try {
    MP_CUDA_CHECK(cudaSetDevice(ordinal));
    t_bound_device = ordinal;
    cudaDeviceProp prop{};
    MP_CUDA_CHECK(cudaGetDeviceProperties(&prop, ordinal));
    device_name_ = prop.name;
    cc_major_ = prop.major;
    cc_minor_ = prop.minor;
    MP_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    gemm_ = std::make_unique<GemmEngine>(stream_, alloc_);
  } catch (const InternalError& e) {
    if (stream_) (void)cudaStreamDestroy(stream_);
    throw ConfigError("device: CUDA device " + std::to_string(ordinal) +
                      " could not be initialised (" + e.what() + "); use --device cpu");
  }
}

CudaBackend::~CudaBackend() {
  if (stream_) (void)cudaStreamSynchronize(stream_);  // no throwing from a destructor
  gemm_.reset();
  if (stream_) (void)cudaStreamDestroy(stream_);
}

// Tensor cores: bf16 from sm_80 (Ampere), fp16 from sm_70 (Volta).
NativeLowPrecision CudaBackend::native_low_precision() const {
  NativeLowPrecision n;
  n.gpu = true;
  n.bf16 = cc_major_ >= 8;
  n.fp16 = cc_major_ >= 7;
  const std::string sm = device_name_ + ", sm_" + std::to_string(cc_major_) + std::to_string(cc_minor_);
  n.detail = n.bf16   ? sm + " has bf16 tensor cores"
             : n.fp16 ? sm + " has fp16 but no bf16 tensor cores"
                      : sm + " has no fp16 or bf16 tensor cores";
  return n;
}

std::string CudaBackend::name() const {
  return "cuda (" + device_name_ + ", sm_" + std::to_string(cc_major_) + std::to_string(cc_minor_) +
         (allow_tf32_ ? ", tf32 allowed)" : ")");
}

void CudaBackend::bind_device() {
  if (t_bound_device == ordinal_) return;
  MP_CUDA_CHECK(cudaSetDevice(ordinal_));
  t_bound_device = ordinal_;
}

size_t CudaBackend::cached_gemm_plans() const { return gemm_->cached_plans(); }

void CudaBackend::sync() { MP_CUDA_CHECK(cudaStreamSynchronize(bound_stream())); }
void CudaBackend::synchronize() { sync(); }

size_t CudaBackend::peak_memory_bytes() const { return alloc_->peak_bytes(); }

Tensor CudaBackend::empty_impl(const Shape& shape, DType dtype) {
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  bind_device();  // cudaMalloc allocates on the current device
  void* p = alloc_->alloc(bytes);
  alloc_->add_live(bytes);
  std::shared_ptr<CachingAllocator> a = alloc_;
  auto storage = std::make_shared<Storage>(p, bytes, Device::CUDA, [a, bytes](void* q) {
    a->sub_live(bytes);
    a->free(q, bytes);
  });
  return Tensor(std::move(storage), 0, shape, dtype);
}

void CudaBackend::upload_impl(const void* host, Tensor& dst) {
  if (dst.nbytes() == 0) return;
  MP_CUDA_CHECK(cudaMemcpyAsync(dst.raw(), host, dst.nbytes(), cudaMemcpyHostToDevice,
      bound_stream()));
  // From pageable memory the copy has left `host` when cudaMemcpyAsync returns; from page-locked
  // memory it has not, and the caller may reuse `host` as soon as we return: wait for it then.
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, host) != cudaSuccess) {
    (void)cudaGetLastError();
    sync();
    return;
  }
  if (attr.type != cudaMemoryTypeUnregistered) sync();
}

void CudaBackend::download_impl(const Tensor& src, void* host) {
  if (src.nbytes() == 0) return;
  MP_CUDA_CHECK(cudaMemcpyAsync(host, src.raw(), src.nbytes(), cudaMemcpyDeviceToHost,
      bound_stream()));
  sync();
}

void CudaBackend::copy_impl(const Tensor& src, Tensor& dst) {
  const size_t bytes = src.nbytes();
  const char* s = static_cast<const char*>(src.raw());
  char* d = static_cast<char*>(dst.raw());
  if (s == d || bytes == 0) return;
  if (s < d + bytes && d < s + bytes) {  // overlapping views of one storage: through a temporary
    bind_device();
    void* tmp = alloc_->alloc(bytes);
    MP_CUDA_CHECK(cudaMemcpyAsync(tmp, s, bytes, cudaMemcpyDeviceToDevice, stream_));
    MP_CUDA_CHECK(cudaMemcpyAsync(d, tmp, bytes, cudaMemcpyDeviceToDevice, stream_));
    alloc_->free(tmp, bytes);  // stream-ordered reuse is safe
    return;
  }
  MP_CUDA_CHECK(cudaMemcpyAsync(d, s, bytes, cudaMemcpyDeviceToDevice, bound_stream()));
}

Tensor CudaBackend::workspace(int slot, const Shape& shape, DType dtype) {
  MP_CHECK(slot >= 0 && slot < kWorkspaceSlots, "workspace: no slot " + std::to_string(slot));
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  bind_device();  // a growing scratch allocates on the current device
  void* p = workspace_[slot].get(bytes);
  // Not owned: the scratch keeps the memory for the next call.
  auto storage = std::make_shared<Storage>(p, bytes, Device::CUDA, [](void*) {});
  return Tensor(std::move(storage), 0, shape, dtype);
}

Tensor CudaBackend::f32_copy(const Tensor& t, int slot) {
  if (t.dtype() == DType::F32) return t;
  Tensor out = workspace(slot, t.shape(), DType::F32);
  cast(t, out);
  return out;
}

bool CudaBackend::same_dtype(std::initializer_list<const Tensor*> ts) {
  const Tensor* first = nullptr;
  for (const Tensor* t : ts) {
    if (!t) continue;
    if (!first)
      first = t;
    else if (t->dtype() != first->dtype())
      return false;
  }
  return true;
}

void CudaBackend::gemm_impl(const GemmDesc& s, float alpha, const Tensor& A, const Tensor& B,
                            float beta, Tensor& C, const Tensor* bias) {
  bind_device();
  gemm_->run(s, alpha, A, B, beta, C, bias, allow_tf32_);
}

}  // namespace mp::cuda

namespace mp {

std::unique_ptr<Backend> make_cuda_backend(int ordinal, const BackendOptions& opt) {
  return std::make_unique<cuda::CudaBackend>(ordinal, opt);
}

bool set_allow_tf32(Backend& be, bool allow) {
  auto* cb = dynamic_cast<cuda::CudaBackend*>(&be);
  if (!cb) return false;
  cb->set_allow_tf32(allow);
  return true;
}

}  // namespace mp
