// backend.h: the compute interface both engines implement (cpu/ on oneDNN + OpenMP, cuda/ on
// cuBLASLt + kernels). Every op's math lives in kernels/; a backend only loops or launches.
//
// Precision contract (DESIGN.md "Precision semantics"): float tensors may be fp32, fp16 or bf16.
// Ops load elements to fp32, compute in fp32, and round once when storing to the output dtype.
// GEMMs take inputs of one dtype, accumulate in fp32, add the bias in fp32, then round the output
// (C may be fp32 even when A and B are not: weight gradients are written straight into fp32).
// All shapes are row-major and contiguous.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/tensor.h"

namespace mp {

enum class Act : uint8_t { Identity, Relu, GeluTanh, GeluExact, Tanh, Sigmoid, Silu };

// How an optimizer writes the updated parameter when the parameter is not fp32.
struct Rounding {
  bool stochastic = false;  // bf16 only: stochastic rounding from Philox(seed, offset, i)
  uint64_t seed = 0;
  uint64_t offset = 0;
};

struct SgdHyper {
  float lr = 0.01f, momentum = 0.0f, weight_decay = 0.0f;
  bool nesterov = false;
};

struct AdamWHyper {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f;
  int64_t step = 1;  // 1-based step count for bias correction
};

// How a fused optimizer update reads an fp32 gradient (DESIGN.md order: unscale, then clip):
// g = grad * inv_scale, then g = g * clip_coef when `clip`, each product rounded to fp32: exactly
// the values unscale_and_check(grad, inv_scale) and scale(grad, clip_coef) would leave in memory.
struct GradPrep {
  float inv_scale = 1.0f;
  bool clip = false;
  float clip_coef = 1.0f;
  bool zero_grad = false;  // grad = 0 afterwards (the next accumulation starts from zero)
};

// One read-only pass over a gradient (Backend::check_grad).
struct GradCheck {
  // Some element of grad * inv_scale (the unscaled gradient the update would use) is inf or NaN:
  // the step must be skipped. Includes every non-finite element of grad itself.
  bool nonfinite = false;
  // Some element of grad as stored (loss-scaled) is inf or NaN: the backward overflowed at this
  // scale. False while `nonfinite` is true means only unscaling overflowed (inv_scale > 1, S < 1).
  bool scaled_nonfinite = false;
  double sum_squares = 0.0;  // of grad * inv_scale, as sum_squares() of the unscaled gradient
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual std::string name() const = 0;  // "cpu (oneDNN 2.6, 2 threads)" / "cuda (H200, sm_90)"

  // ---- memory -------------------------------------------------------------------------------
  virtual Tensor empty(const Shape& shape, DType dtype) = 0;
  virtual void upload(const void* host, Tensor& dst) = 0;      // dst.nbytes() bytes from host
  virtual void download(const Tensor& src, void* host) = 0;    // src.nbytes() bytes to host
  virtual void copy(const Tensor& src, Tensor& dst) = 0;       // same dtype and numel
  virtual void synchronize() = 0;
  virtual size_t peak_memory_bytes() const = 0;  // high-water mark of live tensor bytes

  // ---- GEMM -----------------------------------------------------------------------------------
  // C[M,N] = alpha * op(A) * op(B) + beta * C (+ bias[N], fp32 math, before rounding).
  // op(A) is [M,K] (A stored [K,M] when trans_a); op(B) is [K,N] (B stored [N,K] when trans_b).
  // A and B share a dtype; C is that dtype or fp32; bias is fp32 or C's dtype.
  virtual void gemm(bool trans_a, bool trans_b, float alpha, const Tensor& A, const Tensor& B,
                    float beta, Tensor& C, const Tensor* bias = nullptr) = 0;
  // Batched: A [batch, ...], B [batch, ...], C [batch, M, N], each matrix as in gemm().
  virtual void gemm_batched(bool trans_a, bool trans_b, float alpha, const Tensor& A,
                            const Tensor& B, float beta, Tensor& C) = 0;

  // ---- elementwise ---------------------------------------------------------------------------
  virtual void fill(Tensor& x, float value) = 0;
  virtual void cast(const Tensor& src, Tensor& dst) = 0;  // any float dtype -> any, RNE
  virtual void scale(Tensor& x, float alpha) = 0;          // x *= alpha (fp32 math)
  virtual void add(const Tensor& a, const Tensor& b, Tensor& out) = 0;  // out = a + b
  virtual void accumulate(const Tensor& src, Tensor& dst) = 0;          // dst += src
  virtual void activation_forward(Act act, const Tensor& x, Tensor& y) = 0;
  // dx = dy * act'(x).
  virtual void activation_backward(Act act, const Tensor& x, const Tensor& dy, Tensor& dx) = 0;
  // Inverted dropout with keep mask from Philox(seed, offset, i): y = x * keep / (1 - p).
  virtual void dropout_forward(const Tensor& x, Tensor& y, float p, uint64_t seed,
                               uint64_t offset) = 0;
  virtual void dropout_backward(const Tensor& dy, Tensor& dx, float p, uint64_t seed,
                                uint64_t offset) = 0;
  // db[N] = beta * db + column sums of dy[M,N] (fp32 accumulation, db fp32).
  virtual void bias_grad(const Tensor& dy, Tensor& db, float beta) = 0;

  // ---- row-wise --------------------------------------------------------------------------------
  // LayerNorm over the last dim. mean/rstd are fp32 [rows]; gamma/beta any float dtype [cols].
  virtual void layernorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                 float eps, Tensor& y, Tensor& mean, Tensor& rstd) = 0;
  // dx (overwritten); dgamma, dbeta fp32, accumulated into (beta = 1).
  virtual void layernorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                  const Tensor& mean, const Tensor& rstd, Tensor& dx,
                                  Tensor& dgamma, Tensor& dbeta) = 0;
  // Fused softmax cross-entropy on logits [N,C] with int32 labels [N], all math in fp32.
  // losses[N] (fp32) gets -log softmax(label); rows with label == ignore_index get 0.
  // If dlogits is given: dlogits = grad_scale * (softmax - onehot), zero for ignored rows.
  virtual void softmax_xent(const Tensor& logits, const Tensor& labels, int32_t ignore_index,
                            float grad_scale, Tensor& losses, Tensor* dlogits) = 0;
  // Mean squared error pieces: losses[N] = sum_j (pred - target)^2 over the row (fp32);
  // dpred = grad_scale * 2 * (pred - target).
  virtual void mse(const Tensor& pred, const Tensor& target, float grad_scale, Tensor& losses,
                   Tensor* dpred) = 0;
  virtual void argmax_rows(const Tensor& x, Tensor& out_i32) = 0;

  // ---- reductions and the optimizer step -------------------------------------------------------
  virtual double sum(const Tensor& x) = 0;          // fp32 accumulation per block, fp64 total
  // For global gradient norms: exact fp64 squares (kernels::square_f64) summed in fp64, so the
  // result is finite for any finite input (an fp32 square overflows for |x| > 1.8e19).
  virtual double sum_squares(const Tensor& x) = 0;
  // x *= inv_scale; returns true if any element of the result (fp32 product x * inv_scale, before
  // rounding to x's dtype) is inf or NaN: a non-finite x, or a finite x that overflows when
  // inv_scale > 1 (loss scale < 1).
  virtual bool unscale_and_check(Tensor& x, float inv_scale) = 0;
  // Count elements with 0 < |x| * factor < threshold (gradient underflow telemetry) and max |x|.
  virtual void magnitude_stats(const Tensor& x, float factor, float threshold, int64_t& below,
                               float& max_abs) = 0;
  virtual void sgd_step(Tensor& param, const Tensor& grad, Tensor* momentum, const SgdHyper& h,
                        const Rounding& r) = 0;
  virtual void adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                          const AdamWHyper& h, const Rounding& r) = 0;

  // ---- the optimizer step, fused (one or two passes per parameter instead of five) -----------
  // The default implementations compose the ops above; a backend overrides them to save passes
  // over memory. Results are bit-identical either way.
  // Whether grad * inv_scale has a non-finite element, whether grad itself has one, and the sum
  // of squares of grad * inv_scale: the same bits as unscale_and_check(grad, inv_scale) then
  // sum_squares(grad), without writing grad.
  virtual GradCheck check_grad(const Tensor& grad, float inv_scale);
  // adamw_step / sgd_step on the gradient as `prep` reads it; then, when `working` is given,
  // working = RNE(param) (the master -> working cast of mixed precision); then grad = 0 when
  // prep.zero_grad. Without zero_grad, grad may be left holding the prepared values.
  virtual void adamw_step_fused(Tensor& param, Tensor& grad, Tensor& m, Tensor& v,
                                const AdamWHyper& h, const Rounding& r, const GradPrep& prep,
                                Tensor* working);
  virtual void sgd_step_fused(Tensor& param, Tensor& grad, Tensor* momentum, const SgdHyper& h,
                              const Rounding& r, const GradPrep& prep, Tensor* working);

  // ---- random ---------------------------------------------------------------------------------
  virtual void random_uniform(Tensor& x, float lo, float hi, uint64_t seed, uint64_t offset) = 0;
  virtual void random_normal(Tensor& x, float mean, float std, uint64_t seed, uint64_t offset) = 0;
};

// Default fused optimizer ops: the separate calls they stand for.
inline GradCheck Backend::check_grad(const Tensor& grad, float inv_scale) {
  Tensor t = empty(grad.shape(), grad.dtype());
  copy(grad, t);
  GradCheck c;
  c.nonfinite = unscale_and_check(t, inv_scale);
  c.sum_squares = sum_squares(t);
  // With inv_scale <= 1 a finite element stays finite, so the two flags agree; otherwise (only
  // on the rare skipping step) check grad as stored in a second pass.
  c.scaled_nonfinite = c.nonfinite;
  if (c.nonfinite && inv_scale > 1.0f) {
    copy(grad, t);
    c.scaled_nonfinite = unscale_and_check(t, 1.0f);
  }
  return c;
}

namespace detail {
inline void prepare_grad(Backend& be, Tensor& grad, const GradPrep& prep) {
  if (prep.inv_scale != 1.0f) be.unscale_and_check(grad, prep.inv_scale);
  if (prep.clip) be.scale(grad, prep.clip_coef);
}
inline void finish_step(Backend& be, const Tensor& param, Tensor& grad, const GradPrep& prep,
                        Tensor* working) {
  if (working) be.cast(param, *working);
  if (prep.zero_grad) be.fill(grad, 0.0f);
}
}  // namespace detail

inline void Backend::adamw_step_fused(Tensor& param, Tensor& grad, Tensor& m, Tensor& v,
                                      const AdamWHyper& h, const Rounding& r,
                                      const GradPrep& prep, Tensor* working) {
  detail::prepare_grad(*this, grad, prep);
  adamw_step(param, grad, m, v, h, r);
  detail::finish_step(*this, param, grad, prep, working);
}

inline void Backend::sgd_step_fused(Tensor& param, Tensor& grad, Tensor* momentum,
                                    const SgdHyper& h, const Rounding& r, const GradPrep& prep,
                                    Tensor* working) {
  detail::prepare_grad(*this, grad, prep);
  sgd_step(param, grad, momentum, h, r);
  detail::finish_step(*this, param, grad, prep, working);
}

// The CPU engine (always available).
std::unique_ptr<Backend> make_cpu_backend(int threads);
// Number of usable CUDA devices; 0 when built without CUDA or when no driver/GPU is present.
int cuda_device_count();
// The CUDA engine on device `ordinal`; throws ConfigError when CUDA is not available.
std::unique_ptr<Backend> make_cuda_backend(int ordinal);
// "auto" -> cuda when a GPU is present else cpu; "cpu"; "cuda" (ConfigError if absent).
std::unique_ptr<Backend> make_backend(const std::string& device, int threads);

// Host-side helpers for tests and I/O: copy a tensor to a std::vector<float> and back.
std::vector<float> to_host_floats(Backend& be, const Tensor& t);
Tensor from_host_floats(Backend& be, const std::vector<float>& v, const Shape& s, DType dt);

}  // namespace mp
