// cpu_backend.h: CpuBackend, the CPU engine (oneDNN GEMMs, OpenMP loops over kernels/ math).
// Each family of methods lives in its own file: cpu_backend.cpp (construction, memory),
// cpu_gemm.cpp, cpu_elementwise.cpp, cpu_rowwise.cpp, cpu_reduce.cpp, cpu_optim.cpp,
// cpu_random.cpp. Calls are synchronous; one thread drives a backend at a time (the memory
// counter alone is safe to touch from other threads, e.g. tensors freed by a data loader).
#pragma once
#include <memory>
#include <string>

#include "backend/backend.h"
#include "backend/cpu/cpu_gemm_onednn.h"
#include "backend/cpu/cpu_memory.h"

namespace mp::cpu {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads);
  ~CpuBackend() override;

  Device device() const override { return Device::CPU; }
  std::string name() const override;
  int threads() const { return threads_; }

  void synchronize() override {}
  size_t peak_memory_bytes() const override;
  size_t live_memory_bytes() const;
  size_t cached_gemm_primitives() const { return gemm_->cached_primitives(); }

  // Per-thread fp32 scratch: `per_thread` floats for each of threads() threads, 64-byte aligned
  // (per_thread is rounded up to a multiple of 16). Valid until the next call of thread_scratch.
  float* thread_scratch(size_t per_thread, size_t* stride = nullptr);
  // Shared scratch for one op (e.g. reduction partials); valid until the next call.
  ScratchBuffer& op_scratch() { return op_scratch_; }

 protected:
  // Backend's hooks (backend.h): the arguments are checked by Backend's public ops.
  Tensor empty_impl(const Shape& shape, DType dtype) override;
  void upload_impl(const void* host, Tensor& dst) override;
  void download_impl(const Tensor& src, void* host) override;
  void copy_impl(const Tensor& src, Tensor& dst) override;

  void gemm_impl(const GemmDesc& s, float alpha, const Tensor& A, const Tensor& B, float beta,
                 Tensor& C, const Tensor* bias) override;

  void fill_impl(Tensor& x, float value) override;
  void cast_impl(const Tensor& src, Tensor& dst) override;
  void scale_impl(Tensor& x, float alpha) override;
  void add_impl(const Tensor& a, const Tensor& b, Tensor& out) override;
  void accumulate_impl(const Tensor& src, Tensor& dst) override;
  void activation_forward_impl(Act act, const Tensor& x, Tensor& y) override;
  void activation_backward_impl(Act act, const Tensor& x, const Tensor& dy, Tensor& dx) override;
  void dropout_forward_impl(const Tensor& x, Tensor& y, float p, uint64_t seed,
                            uint64_t offset) override;
  void dropout_backward_impl(const Tensor& dy, Tensor& dx, float p, uint64_t seed,
                             uint64_t offset) override;
  void bias_grad_impl(const Tensor& dy, Tensor& db, float beta) override;

  void layernorm_forward_impl(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                              Tensor& y, Tensor& mean, Tensor& rstd) override;
  void layernorm_backward_impl(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                               const Tensor& mean, const Tensor& rstd, Tensor& dx, Tensor& dgamma,
                               Tensor& dbeta) override;
  void softmax_xent_impl(const Tensor& logits, const Tensor& labels, int32_t ignore_index,
                         float grad_scale, Tensor& losses, Tensor* dlogits) override;
  void mse_impl(const Tensor& pred, const Tensor& target, float grad_scale, Tensor& losses,
                Tensor* dpred) override;
  void argmax_rows_impl(const Tensor& x, Tensor& out_i32) override;

  double sum_impl(const Tensor& x) override;
  double sum_squares_impl(const Tensor& x) override;
  bool unscale_and_check_impl(Tensor& x, float inv_scale) override;
  void magnitude_stats_impl(const Tensor& x, float factor, float threshold, int64_t& below,
                            float& max_abs) override;
  void sgd_step_impl(Tensor& param, const Tensor& grad, Tensor* momentum, const SgdHyper& h,
                     const Rounding& r) override;
  void adamw_step_impl(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                       const AdamWHyper& h, const Rounding& r) override;
  GradCheck check_grad_impl(const Tensor& grad, float inv_scale) override;
  void adamw_step_fused_impl(Tensor& param, Tensor& grad, Tensor& m, Tensor& v,
                             const AdamWHyper& h, const Rounding& r, const GradPrep& prep,
                             Tensor* working) override;
  void sgd_step_fused_impl(Tensor& param, Tensor& grad, Tensor* momentum, const SgdHyper& h,
                           const Rounding& r, const GradPrep& prep, Tensor* working) override;

  void random_uniform_impl(Tensor& x, float lo, float hi, uint64_t seed, uint64_t offset) override;
  void random_normal_impl(Tensor& x, float mean, float std, uint64_t seed,
                          uint64_t offset) override;

 private:
  int threads_;
  std::shared_ptr<MemoryCounter> mem_;
  std::unique_ptr<GemmEngine> gemm_;
  ScratchBuffer thread_scratch_;
  ScratchBuffer op_scratch_;
};

}  // namespace mp::cpu
