// cpu_gemm_onednn.cpp: GemmEngine (cpu_gemm_onednn.h): the oneDNN matmul primitive cache, the
// native fp32/bf16 paths and the exact fp16 emulation path.
#include "backend/cpu/cpu_gemm_onednn.h"

#include <omp.h>

#include <cstring>
#include <dnnl.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/cpu/cpu_convert.h"
#include "backend/cpu/cpu_memory.h"
#include "backend/cpu/cpu_parallel.h"

namespace mp::cpu {

namespace {

using dnnl::memory;
using mdt = dnnl::memory::data_type;

enum class BiasMode : uint8_t { None, Native, PostOp };

struct Key {
  int64_t batch, M, N, K;
  bool ta, tb;
  DType ab, c, bias_dt;
  BiasMode bias;
  uint32_t alpha_bits, beta_bits;
  bool operator==(const Key&) const = default;
};

struct KeyHash {
  size_t operator()(const Key& k) const {
    uint64_t h = hash_gemm_dims(k.batch, k.M, k.N, k.K);
    h = hash_mix(h, (uint64_t(k.ta) << 1) | uint64_t(k.tb));
    h = hash_mix(h, (uint64_t(k.ab) << 24) | (uint64_t(k.c) << 16) | (uint64_t(k.bias_dt) << 8) |
                        uint64_t(k.bias));
    h = hash_mix(h, (uint64_t(k.alpha_bits) << 32) | k.beta_bits);
    return static_cast<size_t>(h);
  }
};

struct Entry {
  dnnl::matmul prim;
  std::unordered_map<int, memory> args;  // memory objects re-pointed at each call's data
  int bias_arg = 0;
  size_t scratch_bytes = 0;
};

mdt to_dnnl(DType t) {
  switch (t) {
    case DType::F32: return mdt::f32;
    case DType::BF16: return mdt::bf16;
    default: break;
  }
  MP_CHECK(false, "gemm: no native oneDNN path for " + std::string(dtype_name(t)));
  return mdt::undef;
}

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

constexpr size_t kMaxCachedPrimitives = 512;

// The descriptor of operand `m` of `s` (stored row-major) as the matmul reads it, op(m): a
// transposed operand swaps the strides, not the data; batched: [batch, rows, cols].
memory::desc operand_md(const GemmDesc& s, const GemmMatrix& m, bool trans, mdt dt) {
  const memory::dim r = trans ? m.cols : m.rows, c = trans ? m.rows : m.cols;
  const memory::dims st = trans ? memory::dims{1, m.ld()} : memory::dims{m.ld(), 1};
  if (!s.batched) return memory::desc({r, c}, dt, st);
  return memory::desc({s.batch, r, c}, dt, {m.batch_stride(), st[0], st[1]});
}

}  // namespace

struct GemmEngine::Impl {
  int threads;
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  std::unordered_map<Key, Entry, KeyHash> cache;
  ScratchBuffer a32, b32, c32, bias32, dnnl_scratch;

  explicit Impl(int t) : threads(t) {}

  // The cached primitive of key k, which `s` (the shapes k was made from) describes.
  Entry& entry(const Key& k, const GemmDesc& s) {
    auto it = cache.find(k);
    if (it != cache.end()) return it->second;
    if (cache.size() >= kMaxCachedPrimitives) cache.clear();  // e.g. an alpha that changes every call
    const memory::dim M = k.M, N = k.N, K = k.K;
    const memory::desc a_md = operand_md(s, s.a, k.ta, to_dnnl(k.ab));
    const memory::desc b_md = operand_md(s, s.b, k.tb, to_dnnl(k.ab));
    const memory::desc c_md = operand_md(s, s.c, false, to_dnnl(k.c));
    memory::desc bias_md;  // [1, N] (gemm_batched has no bias)
    if (k.bias != BiasMode::None) bias_md = memory::desc({1, N}, to_dnnl(k.bias_dt), {N, 1});

    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (k.alpha_bits != bits_of(1.0f)) {
      float alpha;
      std::memcpy(&alpha, &k.alpha_bits, 4);
      attr.set_output_scales(0, {alpha});
    }
    dnnl::post_ops po;
    int n_post = 0;
    if (k.beta_bits != bits_of(0.0f)) {
      float beta;
      std::memcpy(&beta, &k.beta_bits, 4);
      po.append_sum(beta);
      ++n_post;
    }
    Entry e;
    if (k.bias == BiasMode::PostOp) {
      po.append_binary(dnnl::algorithm::binary_add, bias_md);
      e.bias_arg = DNNL_ARG_ATTR_MULTIPLE_POST_OP(n_post) | DNNL_ARG_SRC_1;
    } else if (k.bias == BiasMode::Native) {
      e.bias_arg = DNNL_ARG_BIAS;
    }
    attr.set_post_ops(po);
    const dnnl::matmul::desc d = k.bias == BiasMode::Native
                                     ? dnnl::matmul::desc(a_md, b_md, bias_md, c_md)
                                     : dnnl::matmul::desc(a_md, b_md, c_md);
    dnnl::matmul::primitive_desc pd;
    try {
      pd = dnnl::matmul::primitive_desc(d, attr, eng);
    } catch (const dnnl::error& err) {
      MP_CHECK(false, "gemm: oneDNN has no matmul for M=" + std::to_string(M) + " N=" +
                          std::to_string(N) + " K=" + std::to_string(K) + " (" +
                          std::string(dtype_name(k.ab)) + " -> " + std::string(dtype_name(k.c)) +
                          "): " + err.what());
    }
    e.prim = dnnl::matmul(pd);
    e.args[DNNL_ARG_SRC] = memory(a_md, eng, DNNL_MEMORY_NONE);
    e.args[DNNL_ARG_WEIGHTS] = memory(b_md, eng, DNNL_MEMORY_NONE);
    e.args[DNNL_ARG_DST] = memory(c_md, eng, DNNL_MEMORY_NONE);
    if (e.bias_arg) e.args[e.bias_arg] = memory(bias_md, eng, DNNL_MEMORY_NONE);
    e.scratch_bytes = pd.scratchpad_desc().get_size();
    if (e.scratch_bytes) e.args[DNNL_ARG_SCRATCHPAD] = memory(pd.scratchpad_desc(), eng, DNNL_MEMORY_NONE);
    return cache.emplace(k, std::move(e)).first->second;
  }

  void matmul(const Key& k, const GemmDesc& s, const void* a, const void* b, void* c,
              const void* bias) {
    Entry& e = entry(k, s);
    e.args[DNNL_ARG_SRC].set_data_handle(const_cast<void*>(a));
    e.args[DNNL_ARG_WEIGHTS].set_data_handle(const_cast<void*>(b));
    e.args[DNNL_ARG_DST].set_data_handle(c);
    if (e.bias_arg) e.args[e.bias_arg].set_data_handle(const_cast<void*>(bias));
    if (e.scratch_bytes) e.args[DNNL_ARG_SCRATCHPAD].set_data_handle(dnnl_scratch.get(e.scratch_bytes));
    e.prim.execute(strm, e.args);
    strm.wait();
  }

  // Both operands (dtype dt) to fp32, in one parallel pass over the concatenated elements.
  void to_f32(const Tensor& A, const Tensor& B, float* fa, float* fb) {
    const int64_t na = A.numel();
    for_each_tile(threads, na + B.numel(), [&](int64_t, int64_t b, int64_t cnt) {
      const int64_t in_a = std::max<int64_t>(0, std::min(cnt, na - b));
      if (in_a > 0) load_floats(elem_ptr(A, b), A.dtype(), in_a, fa + b);
      if (cnt > in_a) {
        const int64_t ob = b + in_a - na;  // first element of B in this tile
        load_floats(elem_ptr(B, ob), B.dtype(), cnt - in_a, fb + ob);
      }
    });
  }
};

GemmEngine::GemmEngine(int threads) : impl_(std::make_unique<Impl>(threads)) {}
GemmEngine::~GemmEngine() = default;
size_t GemmEngine::cached_primitives() const { return impl_->cache.size(); }

void GemmEngine::run(const GemmDesc& d, float alpha, const Tensor& A, const Tensor& B, float beta,
                     Tensor& C, const Tensor* bias) {
  Impl& im = *impl_;
  const DType ab = A.dtype();
  if (omp_get_max_threads() != im.threads) omp_set_num_threads(im.threads);

  if (d.K == 0) {  // C = beta * C + bias: no product, one rounding
    const int64_t rows = C.numel() / d.N;
    std::vector<float> bvals(static_cast<size_t>(d.N), 0.0f), row(static_cast<size_t>(d.N));
    if (bias) load_floats(bias->raw(), bias->dtype(), d.N, bvals.data());
    for (int64_t r = 0; r < rows; ++r) {
      if (beta != 0.0f) load_floats(elem_ptr(C, r * d.N), C.dtype(), d.N, row.data());
      for (int64_t j = 0; j < d.N; ++j)
        row[size_t(j)] = (beta != 0.0f ? beta * row[size_t(j)] : 0.0f) + bvals[size_t(j)];
      store_floats(row.data(), C.dtype(), d.N, elem_ptr(C, r * d.N));
    }
    return;
  }

  Key k{d.batch, d.M, d.N, d.K, d.trans_a, d.trans_b, ab, C.dtype(), DType::F32,
        BiasMode::None, bits_of(alpha), bits_of(beta)};
  if (bias) {
    k.bias = alpha == 1.0f ? BiasMode::Native : BiasMode::PostOp;
    k.bias_dt = bias->dtype();
  }
  if (ab != DType::F16) {
    im.matmul(k, d, A.raw(), B.raw(), C.raw(), bias ? bias->raw() : nullptr);
    return;
  }

  // fp16: exact conversion of A and B to fp32, fp32 GEMM, one rounding of the result to fp16.
  float* a32 = im.a32.get_as<float>(static_cast<size_t>(A.numel()));
  float* b32 = im.b32.get_as<float>(static_cast<size_t>(B.numel()));
  im.to_f32(A, B, a32, b32);
  k.ab = DType::F32;
  const void* bias_ptr = bias ? bias->raw() : nullptr;
  if (bias && bias->dtype() == DType::F16) {
    float* b = im.bias32.get_as<float>(static_cast<size_t>(d.N));
    load_floats(bias->raw(), DType::F16, d.N, b);
    bias_ptr = b;
    k.bias_dt = DType::F32;
  }
  if (C.dtype() == DType::F32) {
    im.matmul(k, d, a32, b32, C.raw(), bias_ptr);
    return;
  }
  // C fp16: fp32 result (alpha, bias) in scratch, then C = rne(result + beta * C) in one pass.
  const int64_t n = C.numel();
  float* c32 = im.c32.get_as<float>(static_cast<size_t>(n));
  k.c = DType::F32;
  k.beta_bits = bits_of(0.0f);
  im.matmul(k, d, a32, b32, c32, bias_ptr);
  uint16_t* c16 = static_cast<uint16_t*>(C.raw());
  for_each_tile(im.threads, n, [&](int64_t, int64_t b, int64_t cnt) {
    float* v = c32 + b;
    if (beta != 0.0f) {
      alignas(64) float old[kTile];
      load_floats(c16 + b, DType::F16, cnt, old);
      for (int64_t i = 0; i < cnt; ++i) v[i] += beta * old[i];
    }
    store_floats(v, DType::F16, cnt, c16 + b);
  });
}

}  // namespace mp::cpu
