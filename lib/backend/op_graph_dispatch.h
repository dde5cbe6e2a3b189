// op_graph_dispatch.h: Backend::run_op, how a public op calls its engine hook (backend.cpp,
// backend_vision.cpp only; C++20): directly outside a graph pass, else recorded with a signature
// of its arguments and a closure holding copies of them (op_graph.h).
#pragma once
#include <bit>
#include <string>
#include <cstring>
#include <type_traits>
#include <utility>

#include "backend/backend.h"
#include "backend/gemm_desc.h"
#include "core/error.h"

namespace mp {
namespace op_graph_detail {

constexpr uint64_t kArgTag = 0xA5A5000000000000ull;  // OpSig: the word before argument k

inline void words(OpSig& s, const Tensor& t) {
  s.push_back(reinterpret_cast<uint64_t>(t.raw()));
  s.push_back(static_cast<uint64_t>(t.dtype()) | (static_cast<uint64_t>(t.ndim()) << 8));
  for (int64_t d : t.shape()) s.push_back(static_cast<uint64_t>(d));
}
inline void words(OpSig& s, const Tensor* t) {
  s.push_back(t ? 1u : 0u);
  if (t) words(s, *t);
}
inline void words(OpSig& s, Tensor* t) { words(s, static_cast<const Tensor*>(t)); }
inline void words(OpSig& s, const GemmDesc& d) {
  for (int64_t v : {d.batch, d.M, d.N, d.K, d.a.rows, d.a.cols, d.b.rows, d.b.cols, d.c.rows,
                    d.c.cols})
    s.push_back(static_cast<uint64_t>(v));
  s.push_back(uint64_t{d.batched} | uint64_t{d.trans_a} << 1 | uint64_t{d.trans_b} << 2);
}
// Scalars (their bits) and plain structs of int64 fields (Conv2dDesc, Pool2dDesc: no padding,
// so their bytes are their value).
template <class T>
void words(OpSig& s, const T& v) {
  if constexpr (std::is_same_v<T, float>) {
    s.push_back(std::bit_cast<uint32_t>(v));
  } else if constexpr (std::is_same_v<T, double>) {
    s.push_back(std::bit_cast<uint64_t>(v));
  } else if constexpr (std::is_integral_v<T> || std::is_enum_v<T>) {
    s.push_back(static_cast<uint64_t>(v));
  } else {
    static_assert(std::has_unique_object_representations_v<T> && sizeof(T) % 8 == 0,
                  "an op argument without a signature: add a words() overload");
    uint64_t w[sizeof(T) / 8];
    std::memcpy(w, &v, sizeof(T));
    s.insert(s.end(), w, w + sizeof(T) / 8);
  }
}

template <class... A>
OpSig signature(const A&... a) {
  OpSig s;
  s.reserve(8 * sizeof...(A));
  uint64_t k = 0;
  ((s.push_back(kArgTag | k++), words(s, a)), ...);
  return s;
}

// A pointer argument held by a closure: a copy of the tensor, or none.
struct HeldPtr {
  Tensor t;
  bool has = false;
};

template <class A>
auto hold(const A& a) {
  using D = std::remove_cvref_t<A>;
  if constexpr (std::is_same_v<D, Tensor*> || std::is_same_v<D, const Tensor*>)
    return a ? HeldPtr{*a, true} : HeldPtr{};
  else
    return D(a);  // tensors (a view sharing the storage: keeps it alive), descriptors, scalars
}

template <class P, class H>
decltype(auto) unhold(H& h) {
  if constexpr (std::is_pointer_v<std::remove_cvref_t<P>>)
    return h.has ? &h.t : static_cast<Tensor*>(nullptr);
  else
    return (h);
}

}  // namespace op_graph_detail

template <class... P, class... A>
void Backend::run_op(const char* name, void (Backend::*hook)(P...), A&&... a) {
  if (pass_ == Pass::Eager || hook_depth_ > 0) {
    (this->*hook)(std::forward<A>(a)...);
    return;
  }
  OpSig sig = op_graph_detail::signature(a...);
  if (pass_ == Pass::Verify) {
    if (verify_op(name, sig)) return;  // matched: runs when graph_end launches the graph
    (this->*hook)(std::forward<A>(a)...);  // fell back: the earlier ops ran; this one runs now
    return;
  }
  record_op(name, std::move(sig), [this, hook, ... h = op_graph_detail::hold(a)]() mutable {
    (this->*hook)(op_graph_detail::unhold<P>(h)...);
  });
  if (!native_capture_) return;
  std::string failed;
  {  // the engine captures the launches into its graph
    const HookScope scope(hook_depth_);
    try {
      (this->*hook)(std::forward<A>(a)...);
    } catch (const InternalError& e) {
      failed = e.what();
    }
  }
  // An engine call that a capture cannot hold: the pass falls back and the recorded ops, this
  // one included, run eagerly (where a real fault fails again, uncaptured).
  if (!failed.empty()) graph_fallback(std::string(name) + " could not be captured: " + failed);
}

}  // namespace mp
