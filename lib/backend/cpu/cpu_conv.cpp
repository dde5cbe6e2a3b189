// cpu_conv.cpp: ConvEngine (cpu_conv.h), the oneDNN convolution primitive cache with its native
// fp32/bf16 paths and the widen-to-fp32 path, and CpuBackend's conv2d hooks.
#include "backend/cpu/cpu_conv.h"

#include <omp.h>

#include <dnnl.hpp>
#include <map>
#include <string>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_convert.h"
#include "backend/cpu/cpu_memory.h"
#include "backend/cpu/cpu_parallel.h"

namespace mp::cpu {

namespace {

using dnnl::memory;
using mdt = memory::data_type;
using tag = memory::format_tag;

enum class Pass : uint8_t { Fwd, BwdData, BwdWeights };

constexpr size_t kMaxCachedPrimitives = 256;

struct Entry {
  dnnl::primitive prim;
  std::unordered_map<int, memory> args;  // re-pointed at each call's data
};

mdt dnnl_dt(DType t) { return t == DType::BF16 ? mdt::bf16 : mdt::f32; }

// The cache key: every field of the descriptor, the pass, the compute dtype and the bias mode.
std::string key_of(const Conv2dDesc& d, Pass p, DType dt, bool bias) {
  const Window2d& k = d.win;
  std::string s;
  for (int64_t v : {d.n, d.c, d.h, d.w, d.k, d.groups, k.kh, k.kw, k.sh, k.sw, k.ph, k.pw, k.dh,
                    k.dw, int64_t(p), int64_t(dt), int64_t(bias)})
    s += std::to_string(v) + ',';
  return s;
}

}  // namespace

struct ConvEngine::Impl {
  int threads;
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  std::map<std::string, Entry> cache;
  bool bf16_native = true;  // cleared when oneDNN has no bf16 convolution here
  ScratchBuffer x32, w32, y32, bias32, dw32, db32;

  explicit Impl(int t) : threads(t) {}

  // Memory descriptors of the operands (plain layouts) in dtype dt; weights grouped when needed.
  struct Mds {
    memory::desc src, wei, bias, dst;
    memory::dims strides, dilates, pad_l, pad_r;
  };
  static Mds mds(const Conv2dDesc& d, mdt dt, mdt acc_dt) {
    const Window2d& k = d.win;
    Mds m;
    m.src = memory::desc({d.n, d.c, d.h, d.w}, dt, tag::nchw);
    m.dst = memory::desc({d.n, d.k, d.oh, d.ow}, dt, tag::nchw);
    m.wei = d.groups == 1
                ? memory::desc({d.k, d.c, k.kh, k.kw}, acc_dt, tag::oihw)
                : memory::desc({d.groups, d.k / d.groups, d.c / d.groups, k.kh, k.kw}, acc_dt,
                               tag::goihw);
    m.bias = memory::desc({d.k}, mdt::f32, tag::a);
    m.strides = {k.sh, k.sw};
    m.dilates = {k.dh - 1, k.dw - 1};  // oneDNN counts the gaps
    m.pad_l = {k.ph, k.pw};
    m.pad_r = {k.ph, k.pw};  // with floor division the output size is PyTorch's
    return m;
  }

  dnnl::convolution_forward::primitive_desc fwd_pd(const Conv2dDesc& d, DType dt, bool bias) {
    const Mds m = mds(d, dnnl_dt(dt), dnnl_dt(dt));
    const auto desc = bias ? dnnl::convolution_forward::desc(
                                 dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                 m.src, m.wei, m.bias, m.dst, m.strides, m.dilates, m.pad_l, m.pad_r)
                           : dnnl::convolution_forward::desc(
                                 dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                 m.src, m.wei, m.dst, m.strides, m.dilates, m.pad_l, m.pad_r);
    return dnnl::convolution_forward::primitive_desc(desc, eng);
  }

  Entry make(const Conv2dDesc& d, Pass p, DType dt, bool bias) {
    Entry e;
    const auto fpd = fwd_pd(d, dt, bias && p == Pass::Fwd);
    if (p == Pass::Fwd) {
      e.prim = dnnl::convolution_forward(fpd);
      e.args[DNNL_ARG_SRC] = memory(fpd.src_desc(), eng, DNNL_MEMORY_NONE);
      e.args[DNNL_ARG_WEIGHTS] = memory(fpd.weights_desc(), eng, DNNL_MEMORY_NONE);
      e.args[DNNL_ARG_DST] = memory(fpd.dst_desc(), eng, DNNL_MEMORY_NONE);
      if (bias) e.args[DNNL_ARG_BIAS] = memory(fpd.bias_desc(), eng, DNNL_MEMORY_NONE);
    } else if (p == Pass::BwdData) {
      const Mds m = mds(d, dnnl_dt(dt), dnnl_dt(dt));
      const dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, m.src,
                                                       m.wei, m.dst, m.strides, m.dilates, m.pad_l,
                                                       m.pad_r);
      const dnnl::convolution_backward_data::primitive_desc pd(desc, eng, fpd);
      e.prim = dnnl::convolution_backward_data(pd);
      e.args[DNNL_ARG_DIFF_DST] = memory(pd.diff_dst_desc(), eng, DNNL_MEMORY_NONE);
      e.args[DNNL_ARG_WEIGHTS] = memory(pd.weights_desc(), eng, DNNL_MEMORY_NONE);
      e.args[DNNL_ARG_DIFF_SRC] = memory(pd.diff_src_desc(), eng, DNNL_MEMORY_NONE);
    } else {
      const Mds m = mds(d, dnnl_dt(dt), mdt::f32);  // weight and bias gradients in fp32
      using BW = dnnl::convolution_backward_weights;
      const auto desc = bias ? BW::desc(dnnl::algorithm::convolution_direct, m.src, m.wei, m.bias,
                                        m.dst, m.strides, m.dilates, m.pad_l, m.pad_r)
                             : BW::desc(dnnl::algorithm::convolution_direct, m.src, m.wei, m.dst,
                                        m.strides, m.dilates, m.pad_l, m.pad_r);
      const BW::primitive_desc pd(desc, eng, fpd);
      e.prim = BW(pd);
      e.args[DNNL_ARG_SRC] = memory(pd.src_desc(), eng, DNNL_MEMORY_NONE);
      e.args[DNNL_ARG_DIFF_DST] = memory(pd.diff_dst_desc(), eng, DNNL_MEMORY_NONE);
      e.args[DNNL_ARG_DIFF_WEIGHTS] = memory(pd.diff_weights_desc(), eng, DNNL_MEMORY_NONE);
      if (bias) e.args[DNNL_ARG_DIFF_BIAS] = memory(pd.diff_bias_desc(), eng, DNNL_MEMORY_NONE);
    }
    return e;
  }

  // The primitive for (d, p, dt, bias); dt is the dtype it computes in (fp32 or bf16).
  Entry& entry(const Conv2dDesc& d, Pass p, DType dt, bool bias) {
    const std::string k = key_of(d, p, dt, bias);
    auto it = cache.find(k);
    if (it != cache.end()) return it->second;
    if (cache.size() >= kMaxCachedPrimitives) cache.clear();
    try {
      return cache.emplace(k, make(d, p, dt, bias)).first->second;
    } catch (const dnnl::error& err) {
      MP_CHECK(false, "conv2d: oneDNN has no " + std::string(dtype_name(dt)) +
                          " convolution for " + k + ": " + err.what());
    }
    throw;  // unreachable
  }

  // The dtype pass p over `dt` data computes in: bf16 natively when oneDNN can (probed once per
  // shape: a cached bf16 primitive answers without a new primitive descriptor).
  DType compute_dtype(const Conv2dDesc& d, Pass p, DType dt, bool bias) {
    if (dt == DType::F32) return dt;
    if (dt == DType::BF16 && bf16_native) {
      if (cache.count(key_of(d, p, dt, bias))) return dt;
      try {
        (void)fwd_pd(d, dt, bias);
        return dt;
      } catch (const dnnl::error&) {
        bf16_native = false;
      }
    }
    return DType::F32;
  }

  void run(Entry& e, std::initializer_list<std::pair<int, const void*>> ptrs) {
    if (omp_get_max_threads() != threads) omp_set_num_threads(threads);
    for (const auto& [arg, p] : ptrs) e.args.at(arg).set_data_handle(const_cast<void*>(p));
    e.prim.execute(strm, e.args);
    strm.wait();
  }

  // `t` as fp32 data: its own storage, or an exact copy in `buf`.
  const float* f32_of(const Tensor& t, ScratchBuffer& buf) {
    if (t.dtype() == DType::F32) return t.data<float>();
    float* p = buf.get_as<float>(static_cast<size_t>(t.numel()));
    for_each_tile(threads, t.numel(), [&](int64_t, int64_t b, int64_t n) {
      load_floats(elem_ptr(t, b), t.dtype(), n, p + b);
    });
    return p;
  }

  // The fp32 result `v` rounded once into t (when t is not fp32 itself).
  void commit(const float* v, Tensor& t) {
    if (t.dtype() == DType::F32) return;
    for_each_tile(threads, t.numel(), [&](int64_t, int64_t b, int64_t n) {
      store_floats(v + b, t.dtype(), n, elem_ptr(t, b));
    });
  }

  // Output buffer for a pass computing in `cd`: t itself when its dtype matches, else fp32 scratch.
  void* out_of(Tensor& t, DType cd, ScratchBuffer& buf) {
    if (t.dtype() == cd) return t.raw();
    return buf.get_as<float>(static_cast<size_t>(t.numel()));
  }

  // dst[i] += src[i] in fp32.
  void add_into(const float* src, Tensor& dst) {
    float* o = dst.data<float>();
    for_each_tile(threads, dst.numel(), [&](int64_t, int64_t b, int64_t n) {
      for (int64_t i = b; i < b + n; ++i) o[i] += src[i];
    });
  }
};

ConvEngine::ConvEngine(int threads) : impl_(std::make_unique<Impl>(threads)) {}
ConvEngine::~ConvEngine() = default;
size_t ConvEngine::cached_primitives() const { return impl_->cache.size(); }

void ConvEngine::forward(const Conv2dDesc& d, const Tensor& x, const Tensor& w, const Tensor* bias,
                         Tensor& y) {
  Impl& im = *impl_;
  const DType cd = im.compute_dtype(d, Pass::Fwd, x.dtype(), bias != nullptr);
  const void* xs = cd == x.dtype() ? x.raw() : im.f32_of(x, im.x32);
  const void* ws = cd == w.dtype() ? w.raw() : im.f32_of(w, im.w32);
  const float* bs = bias ? im.f32_of(*bias, im.bias32) : nullptr;
  // A native pass writes y directly when y has the compute dtype; otherwise fp32, rounded once.
  void* ys = im.out_of(y, cd, im.y32);
  Entry& e = im.entry(d, Pass::Fwd, cd, bias != nullptr);
  if (bias) im.run(e, {{DNNL_ARG_SRC, xs}, {DNNL_ARG_WEIGHTS, ws}, {DNNL_ARG_DST, ys}, {DNNL_ARG_BIAS, bs}});
  else im.run(e, {{DNNL_ARG_SRC, xs}, {DNNL_ARG_WEIGHTS, ws}, {DNNL_ARG_DST, ys}});
  if (ys != y.raw()) im.commit(static_cast<const float*>(ys), y);
}

void ConvEngine::backward_data(const Conv2dDesc& d, const Tensor& dy, const Tensor& w, Tensor& dx) {
  Impl& im = *impl_;
  const DType cd = im.compute_dtype(d, Pass::BwdData, dy.dtype(), false);
  const void* dys = cd == dy.dtype() ? dy.raw() : im.f32_of(dy, im.y32);
  const void* ws = cd == w.dtype() ? w.raw() : im.f32_of(w, im.w32);
  void* dxs = im.out_of(dx, cd, im.x32);
  im.run(im.entry(d, Pass::BwdData, cd, false),
         {{DNNL_ARG_DIFF_DST, dys}, {DNNL_ARG_WEIGHTS, ws}, {DNNL_ARG_DIFF_SRC, dxs}});
  if (dxs != dx.raw()) im.commit(static_cast<const float*>(dxs), dx);
}

void ConvEngine::backward_weights(const Conv2dDesc& d, const Tensor& x, const Tensor& dy,
                                  Tensor& dw, Tensor* db) {
  Impl& im = *impl_;
  const DType cd = im.compute_dtype(d, Pass::BwdWeights, x.dtype(), db != nullptr);
  const void* xs = cd == x.dtype() ? x.raw() : im.f32_of(x, im.x32);
  const void* dys = cd == dy.dtype() ? dy.raw() : im.f32_of(dy, im.y32);
  float* dws = im.dw32.get_as<float>(static_cast<size_t>(dw.numel()));
  float* dbs = db ? im.db32.get_as<float>(static_cast<size_t>(db->numel())) : nullptr;
  Entry& e = im.entry(d, Pass::BwdWeights, cd, db != nullptr);
  if (db)
    im.run(e, {{DNNL_ARG_SRC, xs}, {DNNL_ARG_DIFF_DST, dys}, {DNNL_ARG_DIFF_WEIGHTS, dws},
               {DNNL_ARG_DIFF_BIAS, dbs}});
  else im.run(e, {{DNNL_ARG_SRC, xs}, {DNNL_ARG_DIFF_DST, dys}, {DNNL_ARG_DIFF_WEIGHTS, dws}});
  im.add_into(dws, dw);
  if (db) im.add_into(dbs, *db);
}

void CpuBackend::conv2d_forward_impl(const Tensor& x, const Tensor& w, const Tensor* bias,
                                     Tensor& y, const Conv2dDesc& d) {
  conv_->forward(d, x, w, bias, y);
}

void CpuBackend::conv2d_backward_data_impl(const Tensor& dy, const Tensor& w, Tensor& dx,
                                           const Conv2dDesc& d) {
  conv_->backward_data(d, dy, w, dx);
}

void CpuBackend::conv2d_backward_weights_impl(const Tensor& x, const Tensor& dy, Tensor& dw,
                                              Tensor* db, const Conv2dDesc& d) {
  conv_->backward_weights(d, x, dy, dw, db);
}

}  // namespace mp::cpu
