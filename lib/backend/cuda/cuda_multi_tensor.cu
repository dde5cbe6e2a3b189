// cuda_multi_tensor.cu: CudaBackend's step-stats and multi-tensor optimizer ops (issue 12: one
// device -> host read per optimizer step, one launch for the whole update):
//   clear_step_stats  a memset of the slots
//   check_grads       one launch over every gradient: block b belongs to tensor t and is block
//                     b - first_block of the grid sum_squares would launch for t alone
//                     (reduce_blocks(n) blocks, the same grid-stride walk), so each block partial
//                     has sum_squares' bits; a one-thread finisher adds them per tensor in block
//                     order from 0.0 (reduce_sum's host loop) and the tensors in list order
//                     (optimizer_step's old loop): the per-parameter check_grad's norm bits.
//   adamw_step_multi, sgd_step_multi
//                     one launch over every parameter, kUpdateChunk elements per block; per
//                     element the arithmetic of the per-parameter path (unscale and clip products
//                     rounded to fp32 with __fmul_rn, so never contracted into the update's FMAs,
//                     as unscale_and_check and scale would store them; the kernels/ update;
//                     round_param with philox_bits(seed, offset, i) for stochastic bf16; the
//                     master -> working cast of the stored value; the gradient zeroed).
// The pointer/size tables live in device scratch and are uploaded only when they change: the
// parameters do not move, and the rounding offsets are stored relative to the first parameter's
// (the optimizer's offsets differ by the parameter index, the same every step), so a
// steady-state step uploads nothing and launches a fixed sequence (and reads nothing back).
// None of this code has run on a GPU yet: tests/unit/optim_cuda_parity.cpp compares it with the
// per-parameter ops, bit for bit.
#include <cstring>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_launch.cuh"
#include "core/philox.h"
#include "kernels/optim_update.h"
#include "kernels/unscale.h"

namespace mp::cuda {

namespace {

constexpr int64_t kReduceBlocks = 512;  // cuda_reduce.cu's sum_squares grid (reduce_blocks)
constexpr int64_t kUpdateChunk = 4 * kThreads;  // elements per block of the update kernels
constexpr int kMaxDecays = 4;  // distinct AdamW weight decays per launch (else per-parameter ops)

int64_t sum_squares_blocks(int64_t n) {
  if (n == 0) return 0;  // sum_squares of nothing is 0.0 without a launch
  int64_t b = (n + kThreads - 1) / kThreads;
  return b < kReduceBlocks ? b : kReduceBlocks;
}

struct CheckEntry {
  const float* g;
  int64_t n, first_block, blocks;
};

// The entry whose block range holds block b < total blocks: the last entry with first_block <= b
// (entries in first_block order). An empty tensor (no blocks) shares its first_block with the
// next entry, which comes later and so wins; one at the end starts at the total, beyond any b.
template <class E>
__device__ const E* find_entry(const E* table, int count, int64_t b) {
  int lo = 0, hi = count - 1;
  while (lo < hi) {  // last entry with first_block <= b
    const int mid = (lo + hi + 1) / 2;
    if (table[mid].first_block <= b) lo = mid;
    else hi = mid - 1;
  }
  return table + lo;
}

__global__ void check_grads_kernel(const CheckEntry* table, int count, float inv_scale,
                                   double* part, unsigned long long* flags) {
  __shared__ double smem[kRowsPerBlock];
  const int64_t b = blockIdx.x;
  const CheckEntry* e = find_entry(table, count, b);
  const int64_t lb = b - e->first_block;
  const int64_t stride = e->blocks * blockDim.x;
  double acc = 0.0;
  int unscaled = 0, scaled = 0;
  for (int64_t i = lb * blockDim.x + threadIdx.x; i < e->n; i += stride) {
    const float x = e->g[i];
    scaled |= kernels::is_nonfinite(x) ? 1 : 0;
    const float u = kernels::unscale_element(x, inv_scale);  // the value unscale_and_check stores
    unscaled |= kernels::is_nonfinite(u) ? 1 : 0;
    acc += kernels::square_f64(u);  // sum_kernel<float, true>'s accumulation
  }
  const double s = block_sum(acc, smem);
  const int any_unscaled = __syncthreads_or(unscaled);
  const int any_scaled = __syncthreads_or(scaled);
  if (threadIdx.x == 0) {
    part[b] = s;
    const unsigned long long f = (any_unscaled ? 1ull : 0ull) | (any_scaled ? 2ull : 0ull);
    if (f) atomicOr(flags, f);
  }
}

// stats[kStatSumSquares] = 0.0 + per tensor (0.0 + its block partials in order), in list order.
__global__ void check_grads_finish_kernel(const CheckEntry* table, int count, const double* part,
                                          double* out) {
  double total = 0.0;
  for (int t = 0; t < count; ++t) {
    double s = 0.0;
    for (int64_t b = 0; b < table[t].blocks; ++b) s += part[table[t].first_block + b];
    total += s;
  }
  *out = total;
}

struct UpdateEntry {
  void* param;
  float* grad;
  float* m;
  float* v;
  void* working;
  int64_t n, first_block;
  uint64_t seed, offset_delta;  // rounding offset = the launch's base + offset_delta
  uint64_t first;               // Rounding::first: the stream index of element 0
  float weight_decay;           // SGD's coefficient
  int32_t decay_index;          // AdamW: index into the launch's decay factors
  int32_t param_dtype, working_dtype;  // DType codes; working_dtype -1: no working copy
  int32_t stochastic;
  int32_t pad;
};

// The per-step arguments shared by every parameter.
struct UpdateArgs {
  float inv_scale, clip_coef;
  int32_t unscale, clip, zero_grad;
  uint64_t offset_base;
  kernels::AdamWCoeffs adamw;      // decay replaced by decay[decay_index]
  float decay[kMaxDecays];
  kernels::SgdCoeffs sgd;          // weight_decay replaced by the entry's
};

__device__ __forceinline__ float load_as_float(const void* p, int32_t dt, int64_t i) {
  switch (static_cast<DType>(dt)) {
    case DType::F16: return to_float(static_cast<const half*>(p)[i]);
    case DType::BF16: return to_float(static_cast<const bfloat16*>(p)[i]);
    default: return static_cast<const float*>(p)[i];
  }
}

// Store the updated value as store_param (cuda_optim.cu) does and return the value stored.
__device__ __forceinline__ float store_param_value(void* p, int32_t dt, int64_t i, float v,
                                                   bool stochastic, uint64_t seed,
                                                   uint64_t offset, uint64_t first) {
  switch (static_cast<DType>(dt)) {
    case DType::F16: {
      const half h = kernels::round_param<half>(v, false, 0u);
      static_cast<half*>(p)[i] = h;
      return to_float(h);
    }
    case DType::BF16: {
      const uint32_t bits =
          stochastic ? philox_bits(seed, offset, first + static_cast<uint64_t>(i)) : 0u;
      const bfloat16 b = kernels::round_param<bfloat16>(v, stochastic, bits);
      static_cast<bfloat16*>(p)[i] = b;
      return to_float(b);
    }
    default: static_cast<float*>(p)[i] = v; return v;
  }
}

__device__ __forceinline__ void store_working(void* w, int32_t dt, int64_t i, float v) {
  switch (static_cast<DType>(dt)) {
    case DType::F16: static_cast<half*>(w)[i] = from_float<half>(v); return;
    case DType::BF16: static_cast<bfloat16*>(w)[i] = from_float<bfloat16>(v); return;
    case DType::F32: static_cast<float*>(w)[i] = v; return;
    default: return;
  }
}

template <bool kAdamW>
__global__ void multi_update_kernel(const UpdateEntry* table, int count, UpdateArgs a) {
  const int64_t b = blockIdx.x;
  const UpdateEntry* e = find_entry(table, count, b);
  const int64_t begin = (b - e->first_block) * kUpdateChunk;
  const int64_t end = begin + kUpdateChunk < e->n ? begin + kUpdateChunk : e->n;
  const uint64_t offset = a.offset_base + e->offset_delta;
  const bool stochastic = e->stochastic != 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    float g = e->grad[i];
    if (a.unscale) g = __fmul_rn(g, a.inv_scale);  // unscale_and_check's stored value
    if (a.clip) g = __fmul_rn(g, a.clip_coef);     // scale's stored value
    const float p = load_as_float(e->param, e->param_dtype, i);
    float out;
    if constexpr (kAdamW) {
      kernels::AdamWCoeffs c = a.adamw;
      c.decay = a.decay[e->decay_index];
      float mi = e->m[i], vi = e->v[i];
      out = kernels::adamw_update(p, g, mi, vi, c);
      e->m[i] = mi;
      e->v[i] = vi;
    } else {
      kernels::SgdCoeffs c = a.sgd;
      c.weight_decay = e->weight_decay;
      if (c.momentum != 0.0f) {  // sgd_step's use_m
        float mi = e->m[i];
        out = kernels::sgd_update_momentum(p, g, mi, c);
        e->m[i] = mi;
      } else {
        out = kernels::sgd_update_plain(p, g, c);
      }
    }
    const float stored =
        store_param_value(e->param, e->param_dtype, i, out, stochastic, e->seed, offset, e->first);
    if (e->working) store_working(e->working, e->working_dtype, i, stored);
    if (a.zero_grad) e->grad[i] = 0.0f;
  }
}

// Upload `host` into `dev` unless it already holds exactly these bytes (`last`, the previous
// upload's copy, also recording the device pointer the bytes went to).
template <class E>
const E* cached_table(cudaStream_t stream, DeviceScratch& dev, std::vector<unsigned char>& last,
                      const std::vector<E>& host) {
  const size_t bytes = host.size() * sizeof(E);
  E* d = dev.get_as<E>(host.size() > 0 ? host.size() : 1);
  std::vector<unsigned char> now(sizeof(E*) + bytes);
  std::memcpy(now.data(), &d, sizeof(E*));
  if (bytes) std::memcpy(now.data() + sizeof(E*), host.data(), bytes);
  if (now != last) {
    // From pageable memory: `host` has been copied out when the call returns (no wait needed).
    if (bytes)
      MP_CUDA_CHECK(cudaMemcpyAsync(d, host.data(), bytes, cudaMemcpyHostToDevice, stream));
    last.swap(now);
  }
  return d;
}

}  // namespace

void CudaBackend::clear_step_stats_impl(Tensor& stats) {
  MP_CUDA_CHECK(cudaMemsetAsync(stats.raw(), 0, stats.nbytes(), bound_stream()));
}

void CudaBackend::check_grads_impl(const std::vector<const Tensor*>& grads, float inv_scale,
                                   Tensor& stats) {
  cudaStream_t stream = bound_stream();
  std::vector<CheckEntry> host;
  host.reserve(grads.size());
  int64_t blocks = 0;
  for (const Tensor* g : grads) {
    const int64_t nb = sum_squares_blocks(g->numel());
    host.push_back({ptr<const float>(*g), g->numel(), blocks, nb});
    blocks += nb;
  }
  MP_CHECK(blocks < (int64_t{1} << 31), "check_grads: too many blocks");
  int64_t* slots = ptr<int64_t>(stats);
  auto* flags = reinterpret_cast<unsigned long long*>(slots + kStatGradFlags);
  MP_CUDA_CHECK(cudaMemsetAsync(flags, 0, sizeof(int64_t), stream));
  double* part = partials_.get_as<double>(static_cast<size_t>(blocks > 0 ? blocks : 1));
  const CheckEntry* table = cached_table(stream, check_table_, check_table_host_, host);
  const int count = static_cast<int>(host.size());
  if (blocks > 0) {
    check_grads_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        table, count, inv_scale, part, flags);
    MP_CUDA_LAUNCH_CHECK("check_grads_kernel");
  }
  double* sum_squares = reinterpret_cast<double*>(slots + kStatSumSquares);
  check_grads_finish_kernel<<<1, 1, 0, stream>>>(table, count, part, sum_squares);
  MP_CUDA_LAUNCH_CHECK("check_grads_finish_kernel");
}

namespace {

// The table and shared arguments of a multi-tensor update, or false when it cannot be one launch
// (more distinct AdamW weight decays than kMaxDecays: the per-parameter ops then run).
bool build_update(const std::vector<ParamUpdate>& ps, const GradPrep& prep, bool adamw,
                  const AdamWHyper* h, std::vector<UpdateEntry>& table, UpdateArgs& a,
                  int64_t& blocks) {
  a = UpdateArgs{};
  a.inv_scale = prep.inv_scale;
  a.clip_coef = prep.clip_coef;
  a.unscale = prep.inv_scale != 1.0f;
  a.clip = prep.clip;
  a.zero_grad = prep.zero_grad;
  a.offset_base = ps.empty() ? 0 : ps[0].rounding.offset;
  float wds[kMaxDecays];
  int ndecay = 0;
  blocks = 0;
  table.clear();
  for (const ParamUpdate& u : ps) {
    UpdateEntry e{};
    e.param = u.param->raw();
    e.grad = ptr<float>(*u.grad);
    e.m = u.m ? ptr<float>(*u.m) : nullptr;
    e.v = u.v ? ptr<float>(*u.v) : nullptr;
    e.working = u.working ? u.working->raw() : nullptr;
    e.n = u.param->numel();
    e.first_block = blocks;
    e.seed = u.rounding.seed;
    e.offset_delta = u.rounding.offset - a.offset_base;
    e.first = u.rounding.first;
    e.weight_decay = u.weight_decay;
    e.param_dtype = static_cast<int32_t>(u.param->dtype());
    e.working_dtype = u.working ? static_cast<int32_t>(u.working->dtype()) : -1;
    e.stochastic = u.rounding.stochastic && u.param->dtype() == DType::BF16;
    if (adamw) {
      int k = 0;
      while (k < ndecay && wds[k] != u.weight_decay) ++k;
      if (k == ndecay) {
        if (ndecay == kMaxDecays) return false;
        wds[ndecay] = u.weight_decay;
        // The per-parameter path's coefficients (kernels::adamw_coeffs on the host, fp64).
        a.decay[ndecay++] =
            kernels::adamw_coeffs(h->lr, h->beta1, h->beta2, h->eps, u.weight_decay, h->step).decay;
      }
      e.decay_index = k;
    }
    blocks += (e.n + kUpdateChunk - 1) / kUpdateChunk;
    table.push_back(e);
  }
  return blocks < (int64_t{1} << 31);
}

}  // namespace

namespace {

// The update's launch over its (cached) table; nothing to launch for empty parameters only.
template <bool kAdamW>
void launch_update(cudaStream_t stream, DeviceScratch& dev, std::vector<unsigned char>& last,
                   const std::vector<UpdateEntry>& host, const UpdateArgs& a, int64_t blocks) {
  const UpdateEntry* table = cached_table(stream, dev, last, host);
  if (blocks == 0) return;
  multi_update_kernel<kAdamW><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      table, static_cast<int>(host.size()), a);
  MP_CUDA_LAUNCH_CHECK("multi_update_kernel");
}

}  // namespace

void CudaBackend::adamw_step_multi_impl(const std::vector<ParamUpdate>& ps, const AdamWHyper& h,
                                        const GradPrep& prep) {
  std::vector<UpdateEntry> host;
  UpdateArgs a;
  int64_t blocks = 0;
  if (!build_update(ps, prep, true, &h, host, a, blocks)) {
    Backend::adamw_step_multi_impl(ps, h, prep);
    return;
  }
  a.adamw = kernels::adamw_coeffs(h.lr, h.beta1, h.beta2, h.eps, 0.0f, h.step);
  launch_update<true>(bound_stream(), update_table_, update_table_host_, host, a, blocks);
}

void CudaBackend::sgd_step_multi_impl(const std::vector<ParamUpdate>& ps, const SgdHyper& h,
                                      const GradPrep& prep) {
  std::vector<UpdateEntry> host;
  UpdateArgs a;
  int64_t blocks = 0;
  if (!build_update(ps, prep, false, nullptr, host, a, blocks)) {
    Backend::sgd_step_multi_impl(ps, h, prep);
    return;
  }
  a.sgd = kernels::SgdCoeffs{h.lr, h.momentum, 0.0f, h.nesterov};
  launch_update<false>(bound_stream(), update_table_, update_table_host_, host, a, blocks);
}

}  // namespace mp::cuda
