// backend.h: the compute interface both engines implement (cpu/ on oneDNN + OpenMP, cuda/ on
// cuBLASLt + kernels). Every op's math lives in kernels/; a backend only loops or launches.
//
// Precision contract (docs/ARCHITECTURE.md "The precision contract"): float tensors may be fp32, fp16 or bf16.
// Ops load elements to fp32, compute in fp32, and round once when storing to the output dtype.
// GEMMs take inputs of one dtype, accumulate in fp32, add the bias in fp32, then round the output
// (C may be fp32 even when A and B are not: weight gradients are written straight into fp32).
// All shapes are row-major and contiguous.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/op_graph.h"
#include "core/hd.h"
#include "core/tensor.h"
#include "kernels/window2d.h"

namespace mp {

enum class Act : uint8_t { Identity, Relu, GeluTanh, GeluExact, Tanh, Sigmoid, Silu };

// How an optimizer writes the updated parameter when the parameter is not fp32.
struct Rounding {
  bool stochastic = false;  // bf16 only: stochastic rounding from Philox(seed, offset, first + i)
  uint64_t seed = 0;
  uint64_t offset = 0;
  // The stream index of the tensor's element 0: 0 for a whole parameter; a ZeRO-1 piece of a
  // parameter (lib/train/zero_optimizer.cpp) starts where the piece starts, so it draws the bits
  // the whole parameter's update would.
  uint64_t first = 0;
};

struct SgdHyper {
  float lr = 0.01f, momentum = 0.0f, weight_decay = 0.0f;
  bool nesterov = false;
};

struct AdamWHyper {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f;
  int64_t step = 1;  // 1-based step count for bias correction
};

// How a fused optimizer update reads an fp32 gradient (docs/ARCHITECTURE.md "The optimizer step": unscale, then clip):
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

// A training step's device-resident results (issue 12: one device -> host read per optimizer
// step). An I64 tensor of kStepStatSlots 8-byte slots (make_step_stats), written on the device by
// sum_into, softmax_xent_deferred, the deferred embedding ops and check_grads and read back in
// one download by read_step_stats; clear_step_stats zeroes it on the device (no read).
enum StepStatSlot : int64_t {
  kStatLossSum = 0,     // fp64 bits: the step's summed loss (sum_into, micro-batch order)
  kStatSumSquares = 1,  // fp64 bits: sum of squares of the unscaled gradients (check_grads)
  kStatGradFlags = 2,   // bit 0: some unscaled gradient non-finite; bit 1: some stored one
  kStatBadLabel = 3,    // 0, or the lowest bad row r and its label l: ((2^31-1-r) << 32) | u32(l)
  kStatBadToken = 4,    // 0, or the lowest bad token index i and the id's fp32 bits, packed alike
  kStepStatSlots = 5
};

// read_step_stats's host copy of the slots.
struct StepStats {
  double loss_sum = 0.0;
  double sum_squares = 0.0;
  bool nonfinite = false;         // GradCheck::nonfinite over every gradient of check_grads
  bool scaled_nonfinite = false;  // GradCheck::scaled_nonfinite likewise
  bool bad_label = false;         // softmax_xent_deferred saw a label outside [0, C)
  int64_t bad_row = -1;           // its lowest row (within that call's batch) and label
  int32_t bad_label_value = 0;
  bool bad_token = false;         // a deferred embedding op saw an id not an integer in [0, V)
  int64_t bad_token_index = -1;   // its lowest flat index (within that call's ids) and the id
  float bad_token_id = 0.0f;
};

// One parameter of a multi-tensor optimizer update (Backend::adamw_step_multi / sgd_step_multi):
// the tensors of the per-parameter fused op (param, fp32 grad, state: AdamW m and v, SGD momentum
// in m or null; working or null) and what differs between parameters: weight decay and rounding.
struct ParamUpdate {
  Tensor* param = nullptr;
  Tensor* grad = nullptr;
  Tensor* m = nullptr;
  Tensor* v = nullptr;
  Tensor* working = nullptr;
  float weight_decay = 0.0f;
  Rounding rounding;
};

// The hooks every engine implements: the op of the same name with its arguments already checked
// by the public op. gemm_impl serves gemm and gemm_batched (s.batched) and is never called for an
// empty output (s.M, s.N or s.batch 0); the row-wise hooks are not called for zero rows (nor, for
// layernorm, zero columns). Declared `prefix <hook> suffix;` each: Backend declares them with
// MP_BACKEND_HOOKS(virtual, = 0), an engine class overrides them all with
// MP_BACKEND_HOOKS(, override) and defines each in the file of its family of ops.
// Convolution, pooling and group normalisation (backend_vision.cpp checks them; engines:
// cpu_conv.cpp, cpu_pool.cpp, cpu_group_norm.cpp; cuda_conv.cu, cuda_pool.cu).
#define MP_VISION_HOOKS(prefix, suffix)                                                            \
  prefix void conv2d_forward_impl(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, \
                                  const Conv2dDesc& d) suffix;                                     \
  prefix void conv2d_backward_data_impl(const Tensor& dy, const Tensor& w, Tensor& dx,             \
                                        const Conv2dDesc& d) suffix;                               \
  prefix void conv2d_backward_weights_impl(const Tensor& x, const Tensor& dy, Tensor& dw,          \
                                           Tensor* db, const Conv2dDesc& d) suffix;                \
  prefix void pool2d_forward_impl(bool max, const Tensor& x, Tensor& y, Tensor* argmax,            \
                                  const Pool2dDesc& d) suffix;                                     \
  prefix void pool2d_backward_impl(const Tensor& dy, const Tensor* argmax, Tensor& dx,             \
                                   const Pool2dDesc& d) suffix;                                    \
  prefix void group_norm_forward_impl(const Tensor& x, const Tensor& gamma, const Tensor& beta,    \
                                      int64_t groups, float eps, Tensor& y, Tensor& mean,          \
                                      Tensor& rstd) suffix;                                        \
  prefix void group_norm_backward_impl(const Tensor& dy, const Tensor& x, const Tensor& gamma,     \
                                       int64_t groups, const Tensor& mean, const Tensor& rstd,     \
                                       Tensor& dx, Tensor& dgamma, Tensor& dbeta) suffix;

#define MP_BACKEND_HOOKS(prefix, suffix)                                                           \
  prefix Tensor empty_impl(const Shape& shape, DType dtype) suffix;                                \
  prefix void upload_impl(const void* host, Tensor& dst) suffix;                                   \
  prefix void download_impl(const Tensor& src, void* host) suffix;                                 \
  prefix void copy_impl(const Tensor& src, Tensor& dst) suffix;                                    \
  prefix void gemm_impl(const GemmDesc& s, float alpha, const Tensor& A, const Tensor& B,          \
                        float beta, Tensor& C, const Tensor* bias) suffix;                         \
  prefix void fill_impl(Tensor& x, float value) suffix;                                            \
  prefix void cast_impl(const Tensor& src, Tensor& dst) suffix;                                    \
  prefix void scale_impl(Tensor& x, float alpha) suffix;                                           \
  prefix void add_impl(const Tensor& a, const Tensor& b, Tensor& out) suffix;                      \
  prefix void accumulate_impl(const Tensor& src, Tensor& dst) suffix;                              \
  prefix void activation_forward_impl(Act act, const Tensor& x, Tensor& y) suffix;                 \
  prefix void activation_backward_impl(Act act, const Tensor& x, const Tensor& dy, Tensor& dx)     \
      suffix;                                                                                      \
  prefix void dropout_forward_impl(const Tensor& x, Tensor& y, float p, uint64_t seed,             \
                                   uint64_t offset, const Tensor* offset_base) suffix;             \
  prefix void dropout_backward_impl(const Tensor& dy, Tensor& dx, float p, uint64_t seed,          \
                                    uint64_t offset, const Tensor* offset_base) suffix;            \
  prefix void bias_grad_impl(const Tensor& dy, Tensor& db, float beta) suffix;                     \
  prefix void layernorm_forward_impl(const Tensor& x, const Tensor& gamma, const Tensor& beta,     \
                                     float eps, Tensor& y, Tensor& mean, Tensor& rstd) suffix;     \
  prefix void layernorm_backward_impl(const Tensor& dy, const Tensor& x, const Tensor& gamma,      \
                                      const Tensor& mean, const Tensor& rstd, Tensor& dx,          \
                                      Tensor& dgamma, Tensor& dbeta) suffix;                       \
  prefix void softmax_xent_impl(const Tensor& logits, const Tensor& labels, int32_t ignore_index,  \
                                float grad_scale, Tensor& losses, Tensor* dlogits) suffix;         \
  prefix void mse_impl(const Tensor& pred, const Tensor& target, float grad_scale, Tensor& losses, \
                       Tensor* dpred) suffix;                                                      \
  prefix void argmax_rows_impl(const Tensor& x, Tensor& out_i32) suffix;                           \
  prefix double sum_impl(const Tensor& x) suffix;                                                  \
  prefix double sum_squares_impl(const Tensor& x) suffix;                                          \
  prefix bool unscale_and_check_impl(Tensor& x, float inv_scale) suffix;                           \
  prefix void magnitude_stats_impl(const Tensor& x, float factor, float threshold, int64_t& below, \
                                   float& max_abs) suffix;                                         \
  prefix void sgd_step_impl(Tensor& param, const Tensor& grad, Tensor* momentum,                   \
                            const SgdHyper& h, const Rounding& r) suffix;                          \
  prefix void adamw_step_impl(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,             \
                              const AdamWHyper& h, const Rounding& r) suffix;                      \
  prefix void random_uniform_impl(Tensor& x, float lo, float hi, uint64_t seed, uint64_t offset)   \
      suffix;                                                                                      \
  prefix void random_normal_impl(Tensor& x, float mean, float std, uint64_t seed, uint64_t offset) \
      suffix;                                                                                      \
  prefix void embedding_forward_impl(const Tensor& ids, const Tensor& weight, Tensor& out,        \
                                     Tensor& stats) suffix;                                        \
  prefix void embedding_backward_impl(const Tensor& ids, const Tensor& dy, Tensor& dweight,       \
                                      Tensor& stats) suffix;                                       \
  prefix void split_heads_impl(const Tensor& x, Tensor& out, int64_t parts, int64_t heads) suffix; \
  prefix void merge_heads_impl(const Tensor& x, Tensor& out, int64_t parts, int64_t heads) suffix; \
  prefix void causal_softmax_forward_impl(const Tensor& s, Tensor& p) suffix;                      \
  prefix void causal_softmax_backward_impl(const Tensor& p, const Tensor& dp, Tensor& ds) suffix; \
  prefix void linear_gelu_forward_impl(const GemmDesc& s, const Tensor& x, const Tensor& w,        \
                                       const Tensor* bias, Tensor& pre, Tensor& y) suffix;          \
  prefix void linear_dgelu_backward_impl(const GemmDesc& s, const Tensor& dy, const Tensor& w,     \
                                         const Tensor& pre, Tensor& dpre) suffix;                  \
  prefix void linear_param_grad_impl(const GemmDesc& s, const Tensor& dy, const Tensor& x,         \
                                     float beta, Tensor& dw, Tensor& db) suffix;                   \
  MP_VISION_HOOKS(prefix, suffix)                                                                  \
  prefix void add_layernorm_forward_impl(const Tensor& a, const Tensor& b, const Tensor& gamma,    \
                                         const Tensor& beta, float eps, Tensor& sum_out,           \
                                         Tensor& y, Tensor& mean, Tensor& rstd) suffix;           \
  prefix void clear_step_stats_impl(Tensor& stats) suffix;                                         \
  prefix void sum_into_impl(const Tensor& x, Tensor& stats, int64_t slot) suffix;                  \
  prefix void softmax_xent_deferred_impl(const Tensor& logits, const Tensor& labels,               \
                                         int32_t ignore_index, float grad_scale, Tensor& losses,   \
                                         Tensor* dlogits, Tensor& stats) suffix;                   \
  prefix void check_grads_impl(const std::vector<const Tensor*>& grads, float inv_scale,           \
                               Tensor& stats) suffix;                                             \
  prefix void attention_forward_impl(const Tensor& q, const Tensor& k, const Tensor& v,           \
                                     float scale, Tensor& out, Tensor& lse) suffix;                \
  prefix void attention_backward_impl(const Tensor& q, const Tensor& k, const Tensor& v,          \
                                      const Tensor& out, const Tensor& dout, const Tensor& lse,    \
                                      float scale, Tensor& dq, Tensor& dk, Tensor& dv) suffix;

// Which 16-bit float dtypes an engine's GEMMs compute natively (in hardware, not by widening to
// fp32), and why: what precision.policy `auto` is decided from (precision/dtype_policy.h).
struct NativeLowPrecision {
  bool gpu = false;   // a GPU engine (fp16 there means tensor cores, and dynamic loss scaling)
  bool bf16 = false;
  bool fp16 = false;
  std::string detail;  // "this CPU has AVX512-BF16", "sm_75 (no bf16 tensor cores)", ...
};

struct GemmDesc;  // gemm_desc.h: a GEMM's resolved shapes, as the engines receive them

// The interface every engine implements, as a non-virtual public front door over protected hooks.
// Each public op validates its arguments once, here (backend.cpp: tensors defined, on this
// backend's device, of the dtypes and sizes the op needs, values such as the dropout p in range;
// a failure is a caller bug, an MP_CHECK naming the op and the argument), then calls its
// `*_impl` hook, which an engine overrides and which may assume valid arguments. Adding an op:
// its declaration here and its hook in MP_BACKEND_HOOKS, its checks in backend.cpp, the hook in
// one file per engine, a case in the CUDA parity test.
// This header is also compiled by nvcc (C++17): keep it C++17.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual std::string name() const = 0;  // "cpu (oneDNN 2.6, 2 threads)" / "cuda (H200, sm_90)"
  // A capability query, not an op (so not among the hooks): CPU from CPUID, CUDA from the
  // compute capability.
  virtual NativeLowPrecision native_low_precision() const = 0;

  // ---- memory -------------------------------------------------------------------------------
  Tensor empty(const Shape& shape, DType dtype);  // counted by allocations()
  // Calls of empty() so far (issue 12: a steady-state training step makes none: layers keep their
  // temporaries between calls, ensure_buffer in nn/layer.h). Counted here in the front door, so a
  // CPU test proves the CUDA engine's count; engine-internal workspaces (empty_impl) are not.
  int64_t allocations() const { return allocations_; }
  void upload(const void* host, Tensor& dst);    // dst.nbytes() bytes from host
  void download(const Tensor& src, void* host);  // src.nbytes() bytes to host
  void copy(const Tensor& src, Tensor& dst);     // same dtype and numel
  virtual void synchronize() = 0;
  virtual size_t peak_memory_bytes() const = 0;  // high-water mark of live tensor bytes

  // ---- GEMM -----------------------------------------------------------------------------------
  // C[M,N] = alpha * op(A) * op(B) + beta * C (+ bias[N], fp32 math, before rounding).
  // op(A) is [M,K] (A stored [K,M] when trans_a); op(B) is [K,N] (B stored [N,K] when trans_b).
  // A and B share a dtype; C is that dtype or fp32; bias is fp32 or C's dtype.
  void gemm(bool trans_a, bool trans_b, float alpha, const Tensor& A, const Tensor& B, float beta,
            Tensor& C, const Tensor* bias = nullptr);
  // Batched: A [batch, ...], B [batch, ...], C [batch, M, N], each matrix as in gemm().
  void gemm_batched(bool trans_a, bool trans_b, float alpha, const Tensor& A, const Tensor& B,
                    float beta, Tensor& C);

  // ---- elementwise ---------------------------------------------------------------------------
  void fill(Tensor& x, float value);
  void cast(const Tensor& src, Tensor& dst);                // any float dtype -> any, RNE
  void scale(Tensor& x, float alpha);                       // x *= alpha (fp32 math)
  void add(const Tensor& a, const Tensor& b, Tensor& out);  // out = a + b
  void accumulate(const Tensor& src, Tensor& dst);          // dst += src
  void activation_forward(Act act, const Tensor& x, Tensor& y);
  // dx = dy * act'(x).
  void activation_backward(Act act, const Tensor& x, const Tensor& dy, Tensor& dx);
  // Inverted dropout with keep mask from Philox(seed, offset, i): y = x * keep / (1 - p).
  // offset_base: an int64 [1] tensor on this device whose value, read when the op executes, is
  // added to offset (wrapping): the same op replays with a new stream position in a CUDA graph
  // (train.cuda_graph), the value uploaded before each micro-batch. Null: offset alone.
  void dropout_forward(const Tensor& x, Tensor& y, float p, uint64_t seed, uint64_t offset,
                       const Tensor* offset_base = nullptr);
  void dropout_backward(const Tensor& dy, Tensor& dx, float p, uint64_t seed, uint64_t offset,
                        const Tensor* offset_base = nullptr);
  // db[N] = beta * db + column sums of dy[M,N] (fp32 accumulation, db fp32).
  void bias_grad(const Tensor& dy, Tensor& db, float beta);

  // ---- row-wise --------------------------------------------------------------------------------
  // LayerNorm over the last dim. mean/rstd are fp32 [rows]; gamma/beta any float dtype [cols].
  void layernorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                         Tensor& y, Tensor& mean, Tensor& rstd);
  // dx (overwritten); dgamma, dbeta fp32, accumulated into (beta = 1). An undefined dgamma or
  // dbeta (Tensor()) is not computed: a frozen or non-affine layernorm's parameter gradients.
  void layernorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                          const Tensor& mean, const Tensor& rstd, Tensor& dx, Tensor& dgamma,
                          Tensor& dbeta);
  // Fused softmax cross-entropy on logits [N,C] with int32 labels [N], all math in fp32.
  // losses[N] (fp32) gets -log softmax(label); rows with label == ignore_index get 0.
  // If dlogits is given: dlogits = grad_scale * (softmax - onehot), zero for ignored rows.
  // A label outside [0, C) that is not ignore_index is a DataError (op_checks::bad_label).
  void softmax_xent(const Tensor& logits, const Tensor& labels, int32_t ignore_index,
                    float grad_scale, Tensor& losses, Tensor* dlogits);
  // Mean squared error pieces: losses[N] = sum_j (pred - target)^2 over the row (fp32);
  // dpred = grad_scale * 2 * (pred - target).
  void mse(const Tensor& pred, const Tensor& target, float grad_scale, Tensor& losses,
           Tensor* dpred);
  void argmax_rows(const Tensor& x, Tensor& out_i32);
  // Residual add fused with the LayerNorm that reads its result (a pre-norm transformer's
  // x + f(x) feeding the next block's layernorm): sum_out = a + b (fp32 sum, rounded once to
  // sum_out's dtype), then layernorm_forward(sum_out, gamma, beta, eps, y, mean, rstd) on the
  // rounded sum. a, b, sum_out and y [rows, cols] share one float dtype; gamma/beta as in
  // layernorm_forward. Bit for bit add() then layernorm_forward() on one engine. sum_out may
  // alias a or b; y must not alias a, b or sum_out.
  void add_layernorm_forward(const Tensor& a, const Tensor& b, const Tensor& gamma,
                             const Tensor& beta, float eps, Tensor& sum_out, Tensor& y,
                             Tensor& mean, Tensor& rstd);

  // ---- attention (kernels/attention.h) ----------------------------------------------------------
  // Head permutes, exact copies (one dtype): split_heads reads x [B, T, parts * heads * d] as
  // [B, T, parts, heads, d] and writes out [parts * B * heads, T, d] (part-major: Q, K, V of a
  // QKV projection); merge_heads is its inverse (x [parts * B * heads, T, d] -> out [B, T, ...]).
  void split_heads(const Tensor& x, Tensor& out, int64_t parts, int64_t heads);
  void merge_heads(const Tensor& x, Tensor& out, int64_t parts, int64_t heads);
  // Causal softmax over rows of T scores s [N, T, T] (already scaled): row r of each T x T block
  // sees keys j <= r; masked probabilities are exactly 0. fp32 math, one rounding to p's dtype.
  // s, p (and dp, ds) share one dtype and shape.
  void causal_softmax_forward(const Tensor& s, Tensor& p);
  // ds = p * (dp - sum_j p_j dp_j) over each row's visible keys, 0 on masked ones (fp32 math).
  void causal_softmax_backward(const Tensor& p, const Tensor& dp, Tensor& ds);
  // Fused causal attention (flash-style: no [N, T, T] buffer). q, k, v, out [N, T, d] of one
  // float dtype, lse fp32 [N, T]. Per slice and query row i: out_i = softmax_j<=i(scale <q_i, k_j>)
  // V with fp32 scores, max, sum and products, one rounding to the dtype; lse_i = the row's
  // log-sum-exp of its scaled visible scores (the softmax statistics backward recomputes P from).
  // The unfused path's values within one rounding of the dtype (it also rounds S and P).
  void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, float scale,
                         Tensor& out, Tensor& lse);
  // dq, dk, dv [N, T, d] (overwritten) of attention_forward's out for dout, from its out and lse
  // (P recomputed, delta_i = <dout_i, out_i>); fp32 accumulation, deterministic (no atomics).
  void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                          const Tensor& dout, const Tensor& lse, float scale, Tensor& dq,
                          Tensor& dk, Tensor& dv);
  // Whether this engine's fused attention ops take head dim d (the CPU: any; CUDA: the head dims
  // its kernels are instantiated for). A capability query, not an op: layers pick the unfused
  // path when it is false, and the ops refuse such a d.
  virtual bool fused_attention_supports(int64_t d) const { return d >= 1; }

  // ---- Linear + GELU(tanh) fusions (cuBLASLt epilogues on CUDA, cuda_gemm.h) -------------------
  // Each is the composition of the ops above that it replaces (linear_*_by_ops below): the CPU
  // engine runs exactly that composition, so fused and unfused models agree bit for bit there.
  // The CUDA engine runs one cuBLASLt GEMM with an epilogue where cuBLASLt accepts it, which skips
  // one intermediate rounding (said per op), and the composition otherwise.
  // Forward of a Linear followed by gelu(tanh): pre[M,N] = x[M,K] w[N,K]^T (+ bias[N]), rounded
  // to D (gemm), and y = gelu_tanh(pre) (activation_forward). x, w, pre, y share one float dtype
  // D; bias is fp32 or D. CUDA (GELU_AUX_BIAS): y = round(gelu(fp32 pre)), not gelu(round(pre)).
  void linear_gelu_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& pre,
                           Tensor& y);
  // Input gradient of a Linear whose input was gelu_tanh(pre), through the gelu:
  // dpre[M,K] = round(dy[M,N] w[N,K]) * gelu_tanh'(pre) (gemm, then activation_backward); dy, w,
  // pre, dpre share one dtype. CUDA (DGELU): one rounding of (dy w) * gelu'(pre) in fp32.
  void linear_dgelu_backward(const Tensor& dy, const Tensor& w, const Tensor& pre, Tensor& dpre);
  // A Linear's parameter gradients: dw[N,K] = beta * dw + dy[M,N]^T x[M,K] and db[N] = beta * db
  // + column sums of dy (gemm(true, false, ...), then bias_grad); dw and db fp32. CUDA (BGRADB):
  // cuBLASLt sums the columns (its own fp32 order) into a scratch, one kernel adds beta * db.
  void linear_param_grad(const Tensor& dy, const Tensor& x, float beta, Tensor& dw, Tensor& db);

  // ---- reductions and the optimizer step -------------------------------------------------------
  double sum(const Tensor& x);  // fp32 accumulation per block, fp64 total
  // For global gradient norms: exact fp64 squares (kernels::square_f64) summed in fp64, so the
  // result is finite for any finite input (an fp32 square overflows for |x| > 1.8e19).
  double sum_squares(const Tensor& x);
  // x *= inv_scale; returns true if any element of the result (fp32 product x * inv_scale, before
  // rounding to x's dtype) is inf or NaN: a non-finite x, or a finite x that overflows when
  // inv_scale > 1 (loss scale < 1).
  bool unscale_and_check(Tensor& x, float inv_scale);
  // Count elements with 0 < |x| * factor < threshold (gradient underflow telemetry) and max |x|.
  void magnitude_stats(const Tensor& x, float factor, float threshold, int64_t& below,
                       float& max_abs);
  void sgd_step(Tensor& param, const Tensor& grad, Tensor* momentum, const SgdHyper& h,
                const Rounding& r);
  void adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWHyper& h,
                  const Rounding& r);

  // ---- the optimizer step, fused (one or two passes per parameter instead of five) -----------
  // The default hooks compose the ops above (check_grad_by_ops, ...); an engine overrides them to
  // save passes over memory. Results are bit-identical either way.
  // Whether grad * inv_scale has a non-finite element, whether grad itself has one, and the sum
  // of squares of grad * inv_scale: the same bits as unscale_and_check(grad, inv_scale) then
  // sum_squares(grad), without writing grad.
  GradCheck check_grad(const Tensor& grad, float inv_scale);
  // adamw_step / sgd_step on the gradient as `prep` reads it; then, when `working` is given,
  // working = RNE(param) (the master -> working cast of mixed precision); then grad = 0 when
  // prep.zero_grad. Without zero_grad, grad may be left holding the prepared values.
  void adamw_step_fused(Tensor& param, Tensor& grad, Tensor& m, Tensor& v, const AdamWHyper& h,
                        const Rounding& r, const GradPrep& prep, Tensor* working);
  void sgd_step_fused(Tensor& param, Tensor& grad, Tensor* momentum, const SgdHyper& h,
                      const Rounding& r, const GradPrep& prep, Tensor* working);

  // ---- one read-back per optimizer step (issue 12) ------------------------------------------
  // Device -> host reads so far: every public op that returns host data or waits for the device
  // to check it (download, sum, sum_squares, unscale_and_check, magnitude_stats, check_grad,
  // softmax_xent's label check, the raising embedding ops' id check, read_step_stats) counts
  // one, here in the front door, so both engines count the same calls and a CPU test proves the
  // GPU's count. The deferred ops (softmax_xent_deferred, embedding_*_deferred) count none.
  int64_t host_reads() const { return host_reads_; }
  // A zeroed step-stats tensor (StepStatSlot).
  Tensor make_step_stats();
  void clear_step_stats(Tensor& stats);  // every slot 0 (on the device: no read)
  StepStats read_step_stats(const Tensor& stats);  // the one read: a download of the slots
  // stats[slot] (fp64) += sum(x), the bits sum() returns added in fp64 on the device: a step's
  // loss total equals the host sum of its micro-batches' sum() values in the same order.
  void sum_into(const Tensor& x, Tensor& stats, int64_t slot);
  // softmax_xent, but a bad label is recorded in stats[kStatBadLabel] (the lowest bad row of any
  // call since the last clear) instead of raised; its row's loss is NaN and gradient zero as on
  // the raising path. The caller raises op_checks::bad_label after read_step_stats.
  void softmax_xent_deferred(const Tensor& logits, const Tensor& labels, int32_t ignore_index,
                             float grad_scale, Tensor& losses, Tensor* dlogits, Tensor& stats);
  // check_grad of every (fp32) gradient in one pass: stats[kStatGradFlags] = the OR of their
  // flags, stats[kStatSumSquares] = 0.0 + each check_grad(g).sum_squares in list order (fp64):
  // the bits of today's per-parameter loop.
  void check_grads(const std::vector<const Tensor*>& grads, float inv_scale, Tensor& stats);
  // adamw_step_fused / sgd_step_fused of every listed parameter (h.weight_decay and r replaced by
  // each ParamUpdate's), bit-identical to calling them one by one; an engine may run them as
  // one multi-tensor launch. SGD's momentum buffer is ParamUpdate::m.
  void adamw_step_multi(const std::vector<ParamUpdate>& ps, const AdamWHyper& h,
                        const GradPrep& prep);
  void sgd_step_multi(const std::vector<ParamUpdate>& ps, const SgdHyper& h, const GradPrep& prep);

  // ---- op graphs (train.cuda_graph; op_graph.h, docs/ARCHITECTURE.md "Step graphs") ---------
  // Between graph_begin(g) and graph_end() the ops are recorded (g empty: a capture pass) or
  // compared with g's recording (a verify pass) instead of launched one by one; graph_end runs
  // them: it instantiates and launches the engine's graph (CUDA: stream capture), or runs the
  // recorded hooks (an engine without native graphs, the CPU), or launches g's graph again when
  // every op of a verify pass matched. A difference, a host read (download, sum, the raising
  // checks...) or an upload inside the pass makes it fall back: the ops so far and the rest of
  // the pass run eagerly and g is cleared (g.last_fallback() says why). Either way the results
  // are eager execution's, bit for bit. Allocations inside a pass belong to g (a verify pass gets
  // the capture pass's tensors back), so a graph's addresses stay valid while g lives. Passes do
  // not nest; synchronize() must not be called inside one.
  void graph_begin(OpGraph& g);
  GraphPass graph_end();
  // After an exception inside a pass: ends it and clears g. Ops still recorded (not yet run)
  // are dropped, so the device state may be partway through the pass: callers end the run.
  void graph_abort();
  bool in_graph_pass() const { return graph_ != nullptr; }

  // ---- random ---------------------------------------------------------------------------------
  void random_uniform(Tensor& x, float lo, float hi, uint64_t seed, uint64_t offset);
  void random_normal(Tensor& x, float mean, float std, uint64_t seed, uint64_t offset);

  // ---- embedding (token ids -> rows of a table) --------------------------------------------------
  // out[i, :] = weight[ids[i], :] for fp32 token ids (any shape, N elements), weight [V, D] and
  // out [N, D] of one float dtype (an exact copy: no rounding). An id that is not an integer in
  // [0, V) is a DataError naming it and its sample/position (token_index::bad_token), raised
  // after the op ran as embedding_forward_deferred on a fresh step-stats tensor and read it back
  // (one host read: evaluation and sampling; the trainer uses the deferred op).
  void embedding_forward(const Tensor& ids, const Tensor& weight, Tensor& out);
  // dweight[v, :] += sum of dy[i, :] over the i with ids[i] == v; dweight fp32 [V, D], dy [N, D].
  // Deterministic: each row sums its positions in ascending order in fp32 (no float atomics), so
  // the bits do not depend on the thread count or the engine's launch order. Ids as above (on a
  // bad id the good ids' rows have been added when the DataError is raised).
  void embedding_backward(const Tensor& ids, const Tensor& dy, Tensor& dweight);
  // The same ops reading nothing back (issue 12; legal inside CUDA stream capture): a bad id is
  // recorded in stats[kStatBadToken] (the lowest flat index of any call since the last clear, with
  // the id's fp32 bits) instead of raised. Forward writes a zero row for it, backward skips it;
  // good ids get exactly the raising op's bits. The caller raises token_index::bad_token after
  // read_step_stats (Embedding::raise_deferred).
  void embedding_forward_deferred(const Tensor& ids, const Tensor& weight, Tensor& out,
                                  Tensor& stats);
  void embedding_backward_deferred(const Tensor& ids, const Tensor& dy, Tensor& dweight,
                                   Tensor& stats);

  // ---- convolution, pooling, group normalisation (NCHW; backend_vision.cpp) -------------------
  // y[n,k,oh,ow] = sum over the window and the group's input channels of x * w (+ bias[k]):
  // x [n,c,h,w] and w [k, c/groups, kh, kw] of one dtype D, fp32 accumulation, bias (fp32 or D)
  // added in fp32, one rounding to y's dtype (D). Sizes are d's (make_conv2d_desc).
  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                      const Conv2dDesc& d);
  // dx [n,c,h,w] (overwritten, D) = the transposed convolution of dy [n,k,oh,ow] with w.
  void conv2d_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx, const Conv2dDesc& d);
  // dw [k, c/groups, kh, kw] fp32 += the correlation of x with dy; db [k] fp32 += sums of dy over
  // n, oh, ow (when given): both accumulate (beta = 1), like the GEMM's weight gradient.
  void conv2d_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor* db,
                               const Conv2dDesc& d);
  // Max (argmax: int32 [n,c,oh,ow], the plane index of each window's first maximum) or average
  // (divisor kh*kw, padding counted as zeros) pooling of x [n,c,h,w] into y [n,c,oh,ow].
  void pool2d_forward(bool max, const Tensor& x, Tensor& y, Tensor* argmax, const Pool2dDesc& d);
  // dx (overwritten): average pooling when argmax is null, else max pooling routed by argmax.
  void pool2d_backward(const Tensor& dy, const Tensor* argmax, Tensor& dx, const Pool2dDesc& d);
  // GroupNorm of x [n, c, ...] over `groups` groups of c/groups channels: mean/rstd fp32
  // [n * groups]; gamma/beta [c] any float dtype; y = (x - mean) rstd gamma[c] + beta[c].
  void group_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, int64_t groups,
                          float eps, Tensor& y, Tensor& mean, Tensor& rstd);
  // dx overwritten; dgamma, dbeta fp32 [c], accumulated into (beta = 1).
  void group_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, int64_t groups,
                           const Tensor& mean, const Tensor& rstd, Tensor& dx, Tensor& dgamma,
                           Tensor& dbeta);

 protected:
  MP_BACKEND_HOOKS(virtual, = 0)
  // The fused optimizer hooks default to the separate ops (check_grad_by_ops, ...).
  virtual GradCheck check_grad_impl(const Tensor& grad, float inv_scale);
  virtual void adamw_step_fused_impl(Tensor& param, Tensor& grad, Tensor& m, Tensor& v,
                                     const AdamWHyper& h, const Rounding& r, const GradPrep& prep,
                                     Tensor* working);
  virtual void sgd_step_fused_impl(Tensor& param, Tensor& grad, Tensor* momentum, const SgdHyper& h,
                                   const Rounding& r, const GradPrep& prep, Tensor* working);
  // The multi-tensor updates default to the per-parameter fused ops, in list order.
  virtual void adamw_step_multi_impl(const std::vector<ParamUpdate>& ps, const AdamWHyper& h,
                                     const GradPrep& prep);
  virtual void sgd_step_multi_impl(const std::vector<ParamUpdate>& ps, const SgdHyper& h,
                                   const GradPrep& prep);

  // Native graphs: start capturing this engine's work (true), or false when the engine has none
  // (graph passes then replay the recorded hooks). capture_end_impl ends the capture and, when
  // `keep`, returns the executable graph (else discards it and returns null).
  virtual bool capture_begin_impl() { return false; }
  virtual std::unique_ptr<EngineGraph> capture_end_impl(bool keep);

 private:
  enum class Pass : uint8_t { Eager, Capture, Verify };
  // A public op's hook call (op_graph_dispatch.h): direct outside a pass or inside a hook.
  template <class... P, class... A>
  void run_op(const char* name, void (Backend::*hook)(P...), A&&... a);
  void record_op(const char* name, OpSig sig, std::function<void()> run);
  bool verify_op(const char* name, const OpSig& sig);  // false: fell back (earlier ops ran)
  void graph_barrier(const char* op);  // an op a graph cannot hold: a pass falls back first
  void graph_fallback(const std::string& why);
  void run_recorded(size_t n);  // the first n recorded ops' hooks, eagerly

  int64_t host_reads_ = 0;
  int64_t allocations_ = 0;
  OpGraph* graph_ = nullptr;
  Pass pass_ = Pass::Eager;
  bool native_capture_ = false;  // the engine is capturing (capture pass)
  int hook_depth_ = 0;           // > 0 while a hook runs: its own public calls run directly
  // hook_depth_ + 1 for a scope (exceptions included).
  struct HookScope {
    explicit HookScope(int& d) : depth(d) { ++depth; }
    ~HookScope() { --depth; }
    HookScope(const HookScope&) = delete;
    HookScope& operator=(const HookScope&) = delete;
    int& depth;
  };
};

// The pieces of a kStatBadLabel slot (StepStatSlot): its packed value for a bad (row, label),
// and back. Shared by the engines (device-safe arithmetic only). kStatBadToken packs a bad
// token's (flat index, fp32 bits of the id) the same way.
// Packed so that the lowest row has the largest value: engines keep the max (0 = none).
MP_HD int64_t pack_bad_label(int64_t row, int32_t label) {
  return static_cast<int64_t>((static_cast<uint64_t>(0x7fffffff - row) << 32) |
                              static_cast<uint32_t>(label));
}
// The (row, label) of a nonzero packed value.
inline void unpack_bad_label(int64_t packed, int64_t& row, int32_t& label) {
  const auto u = static_cast<uint64_t>(packed);
  row = 0x7fffffff - static_cast<int64_t>(u >> 32);
  label = static_cast<int32_t>(static_cast<uint32_t>(u & 0xffffffffu));
}

// The fused optimizer ops as the separate ops they stand for (the default hooks; tests compare
// an engine's own fused hooks with these).
GradCheck check_grad_by_ops(Backend& be, const Tensor& grad, float inv_scale);
void adamw_step_fused_by_ops(Backend& be, Tensor& param, Tensor& grad, Tensor& m, Tensor& v,
                             const AdamWHyper& h, const Rounding& r, const GradPrep& prep,
                             Tensor* working);
void sgd_step_fused_by_ops(Backend& be, Tensor& param, Tensor& grad, Tensor* momentum,
                           const SgdHyper& h, const Rounding& r, const GradPrep& prep,
                           Tensor* working);

// The fused Linear ops as the separate ops they stand for (the CPU engine's hooks, the CUDA
// engine's fallback, and the reference of the tests).
void linear_gelu_forward_by_ops(Backend& be, const Tensor& x, const Tensor& w, const Tensor* bias,
                                Tensor& pre, Tensor& y);
void linear_dgelu_backward_by_ops(Backend& be, const Tensor& dy, const Tensor& w,
                                  const Tensor& pre, Tensor& dpre);
void linear_param_grad_by_ops(Backend& be, const Tensor& dy, const Tensor& x, float beta,
                              Tensor& dw, Tensor& db);

// What make_backend builds. A setting that only one engine has is ignored by the other.
struct BackendOptions {
  std::string device = "auto";  // "auto" (cuda when a GPU is present, else cpu), "cpu", "cuda"
  int threads = 0;              // CPU engine: 0 = OMP_NUM_THREADS when set, else every core
  // CUDA engine: fp32 GEMMs may use TF32 tensor cores (CUBLAS_COMPUTE_32F_FAST_TF32: inputs
  // rounded to a 10-bit mantissa, fp32 accumulation). Off by default: fp32 GEMMs then match the
  // CPU engine within fp32 accumulation-order bounds. fp16/bf16 GEMMs always compute in fp32.
  bool allow_tf32 = false;
};

// The CPU engine (always available).
std::unique_ptr<Backend> make_cpu_backend(int threads);
// Number of usable CUDA devices; 0 when built without CUDA or when no driver/GPU is present.
int cuda_device_count();
// The CUDA engine on device `ordinal` with opt's CUDA settings (opt.device and opt.threads are
// not read); throws ConfigError when CUDA is not available.
std::unique_ptr<Backend> make_cuda_backend(int ordinal, const BackendOptions& opt = {});
// The engine opt.device names, with opt's settings: "auto" -> cuda when a GPU is present (and
// this build can drive it) else cpu; "cpu"; "cuda" (ConfigError if absent).
std::unique_ptr<Backend> make_backend(const BackendOptions& opt);

// Host-side helpers for tests and I/O: copy a tensor to a std::vector<float> and back.
std::vector<float> to_host_floats(Backend& be, const Tensor& t);
Tensor from_host_floats(Backend& be, const std::vector<float>& v, const Shape& s, DType dt);

}  // namespace mp
