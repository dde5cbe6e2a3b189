// cpu_backend.h: CpuBackend, the CPU engine (oneDNN GEMMs, OpenMP loops over kernels/ math).
// Each family of methods lives in its own file: cpu_backend.cpp (construction, memory),
// cpu_gemm.cpp, cpu_elementwise.cpp, cpu_rowwise.cpp, cpu_reduce.cpp, cpu_optim.cpp,
// cpu_random.cpp. Calls are synchronous; one thread drives a backend at a time (the memory
// counter alone is safe to touch from other threads, e.g. tensors freed by a data loader).
#pragma once
#include <memory>
#include <string>

#include "backend/backend.h"
#include "backend/token_index.h"
#include "backend/cpu/cpu_conv.h"
#include "backend/cpu/cpu_gemm_onednn.h"
#include "backend/cpu/cpu_memory.h"

namespace mp::cpu {

// Not final: tests derive a counting engine from it (tests/unit/train_freeze.cpp counts GEMMs).
class CpuBackend : public Backend {
 public:
  explicit CpuBackend(int threads);
  ~CpuBackend() override;

  Device device() const override { return Device::CPU; }
  std::string name() const override;
  NativeLowPrecision native_low_precision() const override;
  int threads() const { return threads_; }

  void synchronize() override {}
  size_t peak_memory_bytes() const override;
  size_t live_memory_bytes() const;
  size_t cached_gemm_primitives() const { return gemm_->cached_primitives(); }
  size_t cached_conv_primitives() const { return conv_->cached_primitives(); }

  // Per-thread fp32 scratch: `per_thread` floats for each of threads() threads, 64-byte aligned
  // (per_thread is rounded up to a multiple of 16). Valid until the next call of thread_scratch.
  float* thread_scratch(size_t per_thread, size_t* stride = nullptr);
  // Shared scratch for one op (e.g. reduction partials); valid until the next call.
  ScratchBuffer& op_scratch() { return op_scratch_; }

 protected:
  // Backend's hooks (backend.h): the arguments are checked by Backend's public ops.
  MP_BACKEND_HOOKS(, override)
  // Fused optimizer steps in one pass per tile (cpu_reduce.cpp, cpu_optim.cpp).
  GradCheck check_grad_impl(const Tensor& grad, float inv_scale) override;
  void adamw_step_fused_impl(Tensor& param, Tensor& grad, Tensor& m, Tensor& v, const AdamWHyper& h,
                             const Rounding& r, const GradPrep& prep, Tensor* working) override;
  void sgd_step_fused_impl(Tensor& param, Tensor& grad, Tensor* momentum, const SgdHyper& h,
                           const Rounding& r, const GradPrep& prep, Tensor* working) override;

 private:
  int threads_;
  std::shared_ptr<MemoryCounter> mem_;
  std::unique_ptr<GemmEngine> gemm_;
  std::unique_ptr<ConvEngine> conv_;  // conv2d hooks (cpu_conv.cpp)
  ScratchBuffer thread_scratch_;
  ScratchBuffer op_scratch_;
  token_index::Index embed_index_;  // embedding_backward's positions per token, rebuilt in place
};

}  // namespace mp::cpu
