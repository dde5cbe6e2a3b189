// multi_tensor_check.h: the issue-12 ops of one backend against the ops they replace on that same
// backend, bit for bit: check_grads == check_grad per gradient (flags, fp64 combine in list
// order), adamw_step_multi / sgd_step_multi == adamw_step_fused / sgd_step_fused per parameter
// (mixed master/working dtypes, per-parameter weight decay and rounding streams, empty
// tensors), sum_into == 0.0 + sum() + sum() in call order, softmax_xent_deferred == softmax_xent
// on clean labels (and the lowest bad row, NaN loss, zero gradient otherwise), and none of them
// reading back (host_reads) but read_step_stats, which reads once. Used with the CPU engine
// (backend_multi_tensor.cpp) and with the CUDA engine (backend_cuda_parity.cpp).
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "backend/backend.h"

namespace mp::multi_test {

inline std::vector<float> rnd(size_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

inline Tensor host_tensor(Backend& be, const std::vector<float>& v, DType dt) {
  return from_host_floats(be, v, {int64_t(v.size())}, dt);
}

inline std::vector<uint8_t> raw_bytes(Backend& be, const Tensor& t) {
  std::vector<uint8_t> b(t.nbytes());
  be.download(t, b.data());
  return b;
}

inline uint64_t bits(double d) {
  uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
}

// Sizes that cross tile and block boundaries, with an empty tensor between others.
inline const std::vector<int64_t>& sizes() {
  static const std::vector<int64_t> s = {17, 1, 0, 2049, 40000, 100003};
  return s;
}

inline void check_grads_matches_loop(Backend& be) {
  for (float inv : {1.0f, 1.0f / 1024.0f, 4.0f})
    for (int poison : {-1, 3, 5}) {  // no inf; inf in the 2049-element gradient; a huge value
      CAPTURE(inv);
      CAPTURE(poison);
      std::vector<Tensor> gs;
      std::vector<const Tensor*> ptrs;
      for (size_t i = 0; i < sizes().size(); ++i) {
        std::vector<float> v = rnd(size_t(sizes()[i]), -3e3f, 3e3f, uint32_t(40 + i));
        if (int(i) == poison && !v.empty()) v[v.size() / 2] = poison == 3 ? INFINITY : 3e38f;
        gs.push_back(host_tensor(be, v, DType::F32));
      }
      for (const Tensor& g : gs) ptrs.push_back(&g);
      bool nonfinite = false, scaled = false;
      double total = 0.0;
      for (const Tensor& g : gs) {
        const GradCheck c = be.check_grad(g, inv);
        nonfinite = nonfinite || c.nonfinite;
        scaled = scaled || c.scaled_nonfinite;
        total += c.sum_squares;
      }
      Tensor stats = be.make_step_stats();
      const int64_t reads = be.host_reads();
      be.check_grads(ptrs, inv, stats);
      CHECK(be.host_reads() == reads);  // no read until read_step_stats
      const StepStats s = be.read_step_stats(stats);
      CHECK(be.host_reads() == reads + 1);
      CHECK(s.nonfinite == nonfinite);
      CHECK(s.scaled_nonfinite == scaled);
      if (!nonfinite) CHECK(bits(s.sum_squares) == bits(total));
      CHECK(s.nonfinite == (poison == 3 || (poison == 5 && inv == 4.0f)));
      CHECK(s.scaled_nonfinite == (poison == 3));
    }
}

struct Kind {
  DType master, working;  // working == master: no separate working copy
  bool stochastic;
};

// The optimizer's state of one parameter, twice (a: multi-tensor op, b: per-parameter op).
struct Slot {
  Kind k;
  int64_t n;
  Tensor pa, pb, wa, wb, ma, mb, va, vb, ga, gb;
};

template <class Multi, class Single>
void compare_multi(Backend& be, const GradPrep& prep, Multi multi, Single single) {
  const Kind kinds[] = {{DType::F32, DType::BF16, false},
                        {DType::F32, DType::F16, false},
                        {DType::F32, DType::F32, false},
                        {DType::BF16, DType::BF16, true},
                        {DType::BF16, DType::BF16, false},
                        {DType::F16, DType::F16, false}};
  std::vector<Slot> slots;
  for (size_t i = 0; i < sizes().size(); ++i) {
    Slot s;
    s.k = kinds[i % 6];
    s.n = sizes()[i];
    const std::vector<float> p0 = rnd(size_t(s.n), -1.0f, 1.0f, uint32_t(7 + i));
    s.pa = host_tensor(be, p0, s.k.master);
    s.pb = host_tensor(be, p0, s.k.master);
    s.wa = host_tensor(be, std::vector<float>(size_t(s.n), 0.0f), s.k.working);
    s.wb = host_tensor(be, std::vector<float>(size_t(s.n), 0.0f), s.k.working);
    for (Tensor* t : {&s.ma, &s.mb, &s.va, &s.vb})
      *t = host_tensor(be, std::vector<float>(size_t(s.n), 0.0f), DType::F32);
    slots.push_back(std::move(s));
  }
  for (int step = 1; step <= 3; ++step) {
    CAPTURE(step);
    std::vector<ParamUpdate> ups;
    for (size_t i = 0; i < slots.size(); ++i) {
      Slot& s = slots[i];
      const std::vector<float> g = rnd(size_t(s.n), -500.0f, 500.0f, uint32_t(step * 31 + i));
      s.ga = host_tensor(be, g, DType::F32);
      s.gb = host_tensor(be, g, DType::F32);
      ParamUpdate u;
      u.param = &s.pa;
      u.grad = &s.ga;
      u.m = &s.ma;
      u.v = &s.va;
      u.working = s.k.working != s.k.master ? &s.wa : nullptr;
      u.weight_decay = i % 2 ? 0.0f : 0.1f;
      u.rounding.stochastic = s.k.stochastic;
      u.rounding.seed = 99;
      u.rounding.offset = (uint64_t(step) << 24) | i;  // Optimizer::rounding_for's scheme
      ups.push_back(u);
    }
    const int64_t reads = be.host_reads();
    multi(ups, step);
    CHECK(be.host_reads() == reads);
    for (size_t i = 0; i < slots.size(); ++i) {
      Slot& s = slots[i];
      ParamUpdate u = ups[i];
      u.param = &s.pb;
      u.grad = &s.gb;
      u.m = &s.mb;
      u.v = &s.vb;
      u.working = u.working ? &s.wb : nullptr;
      single(u, step);
    }
    for (Slot& s : slots) {
      CAPTURE(s.n);
      CAPTURE(dtype_name(s.k.master));
      CAPTURE(dtype_name(s.k.working));
      CHECK(raw_bytes(be, s.pa) == raw_bytes(be, s.pb));
      CHECK(raw_bytes(be, s.ma) == raw_bytes(be, s.mb));
      CHECK(raw_bytes(be, s.va) == raw_bytes(be, s.vb));
      if (s.k.working != s.k.master) CHECK(raw_bytes(be, s.wa) == raw_bytes(be, s.wb));
      if (prep.zero_grad) CHECK(raw_bytes(be, s.ga) == raw_bytes(be, s.gb));
    }
  }
}

inline std::vector<GradPrep> preps() {
  std::vector<GradPrep> v;
  for (float inv : {1.0f, 1.0f / 256.0f})
    for (bool clip : {false, true}) {
      GradPrep p;
      p.inv_scale = inv;
      p.clip = clip;
      p.clip_coef = clip ? 0.37f : 1.0f;
      p.zero_grad = clip;  // both settings of each
      v.push_back(p);
    }
  return v;
}

inline void adamw_multi_matches_fused(Backend& be) {
  for (const GradPrep& prep : preps()) {
    CAPTURE(prep.inv_scale);
    CAPTURE(prep.clip);
    auto hyper = [](int step) {
      AdamWHyper h;
      h.lr = 1e-2f;
      h.weight_decay = 123.0f;  // ignored: each ParamUpdate's
      h.step = step;
      return h;
    };
    compare_multi(
        be, prep, [&](std::vector<ParamUpdate>& ups, int step) {
          be.adamw_step_multi(ups, hyper(step), prep);
        },
        [&](const ParamUpdate& u, int step) {
          AdamWHyper h = hyper(step);
          h.weight_decay = u.weight_decay;
          be.adamw_step_fused(*u.param, *u.grad, *u.m, *u.v, h, u.rounding, prep, u.working);
        });
  }
}

inline void sgd_multi_matches_fused(Backend& be) {
  for (float momentum : {0.0f, 0.9f})
    for (const GradPrep& prep : preps()) {
      CAPTURE(momentum);
      CAPTURE(prep.inv_scale);
      CAPTURE(prep.clip);
      SgdHyper h;
      h.lr = 0.05f;
      h.momentum = momentum;
      h.nesterov = momentum != 0.0f;
      compare_multi(
          be, prep, [&](std::vector<ParamUpdate>& ups, int) {
            if (momentum == 0.0f)
              for (ParamUpdate& u : ups) u.m = nullptr;
            be.sgd_step_multi(ups, h, prep);
          },
          [&](const ParamUpdate& u, int) {
            SgdHyper hp = h;
            hp.weight_decay = u.weight_decay;
            be.sgd_step_fused(*u.param, *u.grad, momentum != 0.0f ? u.m : nullptr, hp,
                              u.rounding, prep, u.working);
          });
    }
}

inline void sum_into_matches_sum(Backend& be) {
  const Tensor a = host_tensor(be, rnd(40000, 0.0f, 3.0f, 1), DType::F32);
  const Tensor b = host_tensor(be, rnd(2049, 0.0f, 3.0f, 2), DType::F16);
  const Tensor e = host_tensor(be, {}, DType::F32);
  const double ref = 0.0 + be.sum(a) + be.sum(e) + be.sum(b);
  Tensor stats = be.make_step_stats();
  const int64_t reads = be.host_reads();
  be.sum_into(a, stats, kStatLossSum);
  be.sum_into(e, stats, kStatLossSum);
  be.sum_into(b, stats, kStatLossSum);
  CHECK(be.host_reads() == reads);
  const StepStats s = be.read_step_stats(stats);
  CHECK(bits(s.loss_sum) == bits(ref));
  CHECK(s.sum_squares == 0.0);
  CHECK(!s.nonfinite);
  CHECK(!s.bad_label);
  be.clear_step_stats(stats);
  CHECK(be.read_step_stats(stats).loss_sum == 0.0);
}

inline void softmax_xent_deferred_matches(Backend& be) {
  const int64_t N = 7, C = 5;
  const std::vector<float> x = rnd(size_t(N * C), -4.0f, 4.0f, 3);
  const Tensor logits = from_host_floats(be, x, {N, C}, DType::F32);
  auto labels_of = [&](const std::vector<int32_t>& v) {
    Tensor t = be.empty({N}, DType::I32);
    be.upload(v.data(), t);
    return t;
  };
  Tensor la = be.empty({N}, DType::F32), lb = be.empty({N}, DType::F32);
  Tensor da = be.empty({N, C}, DType::F32), db = be.empty({N, C}, DType::F32);
  Tensor stats = be.make_step_stats();
  // Clean labels (one ignored): the same bits as softmax_xent, nothing recorded, nothing read.
  const Tensor clean = labels_of({0, 4, -100, 2, 1, 3, 0});
  be.softmax_xent(logits, clean, -100, 0.5f, lb, &db);
  const int64_t reads = be.host_reads();
  be.softmax_xent_deferred(logits, clean, -100, 0.5f, la, &da, stats);
  CHECK(be.host_reads() == reads);
  CHECK(raw_bytes(be, la) == raw_bytes(be, lb));
  CHECK(raw_bytes(be, da) == raw_bytes(be, db));
  CHECK(!be.read_step_stats(stats).bad_label);
  // Bad labels in two calls: the lowest row of either is reported (row 1, label -7), also when
  // a later call has a bad row of its own.
  be.softmax_xent_deferred(logits, labels_of({0, -7, -100, 5, 1, 3, 0}), -100, 0.5f, la, &da,
                           stats);
  be.softmax_xent_deferred(logits, labels_of({0, 4, -100, 2, 1, 9, 0}), -100, 0.5f, la, &da,
                           stats);
  const StepStats s = be.read_step_stats(stats);
  CHECK(s.bad_label);
  CHECK(s.bad_row == 1);
  CHECK(s.bad_label_value == -7);
  // The last call's rows: bad rows NaN with a zero gradient, the others as softmax_xent's.
  be.softmax_xent(logits, labels_of({0, 4, -100, 2, 1, -100, 0}), -100, 0.5f, lb, &db);
  const std::vector<float> A = to_host_floats(be, la), B = to_host_floats(be, lb);
  const std::vector<float> dA = to_host_floats(be, da), dB = to_host_floats(be, db);
  for (int64_t r = 0; r < N; ++r) {
    CAPTURE(r);
    if (r == 5)
      CHECK(std::isnan(A[size_t(r)]));
    else
      CHECK(A[size_t(r)] == B[size_t(r)]);
    for (int64_t j = 0; j < C; ++j) CHECK(dA[size_t(r * C + j)] == dB[size_t(r * C + j)]);
  }
}

}  // namespace mp::multi_test
