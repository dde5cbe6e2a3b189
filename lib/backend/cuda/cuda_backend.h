// cuda_backend.h: CudaBackend, the GPU engine (cuBLASLt GEMMs, CUDA kernels over kernels/ math),
// used through the Backend interface (backend.h), which checks every op's arguments before it
// calls the hooks here; make_cuda_backend() creates it.
// Each family of hooks lives in its own file:
//   cuda_backend.cpp     construction, device name, memory (empty/upload/download/copy), options
//   cuda_gemm.cpp        gemm, gemm_batched (GemmEngine on cuBLASLt; cuda_gemm_epilogue.cu)
//   cuda_gemm_fused.cpp  linear_gelu_forward, linear_dgelu_backward, linear_param_grad (epilogues)
//   cuda_elementwise.cu  fill, cast, scale, add, accumulate, activations, dropout
//   cuda_rowwise.cu      layernorm forward/backward, softmax_xent, mse, argmax_rows
//   cuda_reduce.cu       sum, sum_squares, unscale_and_check, magnitude_stats, bias_grad
//   cuda_optim.cu        sgd_step, adamw_step
//   cuda_multi_tensor.cu clear_step_stats, check_grads, adamw_step_multi, sgd_step_multi
//   cuda_random.cu       random_uniform, random_normal
//   cuda_graph.cpp       graph passes: stream capture, instantiation, launch (train.cuda_graph)
// Every call is queued on the backend's one stream; methods that return host values (sum,
// unscale_and_check, ...) and download() synchronise that stream. One host thread drives a
// backend at a time (tensors may be freed from any thread).
// Device per thread: CUDA's current device is per host thread, so every entry point that touches
// the device (each hook's launches and copies, through bound_stream(); empty, gemm, synchronize)
// first makes ordinal_ the calling thread's current device when a thread_local record says it is
// not. A thread other than the constructing one (a future comm thread, a data thread that uploads)
// thus needs no setup. Today the data loader's prefetch thread is host-only (BatchMaker builds host
// Batches; upload_batch runs on the training thread). Code that calls cudaSetDevice itself on a
// thread that also drives a backend must call bind_device() again (the record would be stale).
//
// Operand dtypes: as on the CPU, each float operand of an op may have its own dtype. Kernels are
// instantiated for the case where every float operand shares one storage type T (what layers
// pass); any other mix is staged through fp32 copies (exact) and fp32 outputs that are then cast
// (one rounding), which gives the same bits as a mixed-type kernel would. The optimizer steps are
// instantiated for every (param, grad) pair instead, since a pure-bf16 parameter with an fp32
// gradient is the normal case there and its store may round stochastically.
// This header is compiled by both g++ (C++20) and nvcc (C++17): keep it C++17.
#pragma once
#include <cuda_runtime_api.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_memory.h"

namespace mp::cuda {

class GemmEngine;

class CudaBackend final : public Backend {
 public:
  // Reads opt.allow_tf32 (BackendOptions).
  CudaBackend(int ordinal, const BackendOptions& opt);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  Device device() const override { return Device::CUDA; }
  std::string name() const override;
  NativeLowPrecision native_low_precision() const override;
  void synchronize() override;
  size_t peak_memory_bytes() const override;
  // Head dims with flash kernels (cuda_flash_attention.cu): 32, 64, 128.
  bool fused_attention_supports(int64_t d) const override;

  // ---- CUDA-specific ---------------------------------------------------------------------------
  void set_allow_tf32(bool allow) { allow_tf32_ = allow; }
  bool allow_tf32() const { return allow_tf32_; }
  cudaStream_t stream() const { return stream_; }
  // Makes this backend's device the calling thread's current one (a no-op when this thread's
  // record says it already is), and bound_stream() then returns the backend's stream.
  void bind_device();
  cudaStream_t bound_stream() {
    bind_device();
    return stream_;
  }
  int ordinal() const { return ordinal_; }
  size_t live_memory_bytes() const { return alloc_->live_bytes(); }
  size_t reserved_memory_bytes() const { return alloc_->reserved_bytes(); }
  size_t cached_gemm_plans() const;

  // An op's temporary (im2col columns, staging, partials) as a tensor over workspace `slot`
  // (< kWorkspaceSlots), a grow-only DeviceScratch: a steady-state step then neither calls
  // Backend::empty nor goes to the allocator, so its device addresses stay fixed (issue 12, CUDA
  // graph replay). Valid until the next use of the same slot: each op gives its live temporaries
  // distinct slots, and the ops it calls use none (one stream: later ops queue after its kernels).
  static constexpr int kWorkspaceSlots = 4;
  Tensor workspace(int slot, const Shape& shape, DType dtype);
  // Staging of mixed-dtype operands: `t` when it is fp32, else an fp32 copy (exact) in `slot`.
  Tensor f32_copy(const Tensor& t, int slot);
  // True when every listed tensor has the dtype of the first (null entries are skipped).
  static bool same_dtype(std::initializer_list<const Tensor*> ts);

 protected:
  // Backend's hooks (backend.h): the arguments are checked by Backend's public ops.
  MP_BACKEND_HOOKS(, override)
  void adamw_step_multi_impl(const std::vector<ParamUpdate>& ps, const AdamWHyper& h,
                             const GradPrep& prep) override;
  void sgd_step_multi_impl(const std::vector<ParamUpdate>& ps, const SgdHyper& h,
                           const GradPrep& prep) override;
  // Graph passes by stream capture (cuda_graph.cpp).
  bool capture_begin_impl() override;
  std::unique_ptr<EngineGraph> capture_end_impl(bool keep) override;

 private:
  // Synchronise the stream and surface any asynchronous kernel fault.
  void sync();

  int ordinal_;
  bool allow_tf32_;
  cudaStream_t stream_ = nullptr;
  std::string device_name_;
  int cc_major_ = 0, cc_minor_ = 0;
  std::shared_ptr<CachingAllocator> alloc_;
  std::unique_ptr<GemmEngine> gemm_;
  DeviceScratch partials_;  // per-block partials of reductions, bias_grad, layernorm dgamma/dbeta
  DeviceScratch flags_;     // small device results (found-inf flag, first bad label row)
  // The multi-tensor ops' pointer/size tables (cuda_multi_tensor.cu) and the bytes last uploaded
  // to each: re-uploaded only when the parameter list changes.
  DeviceScratch check_table_, update_table_;
  std::vector<unsigned char> check_table_host_, update_table_host_;
  DeviceScratch workspace_[kWorkspaceSlots];  // workspace()
  PinnedBuffer host_;       // reduction results copied back
};

}  // namespace mp::cuda
