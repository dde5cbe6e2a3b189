// embedding_deferred_check.h: the deferred embedding ops (issue 12) of one backend against its
// raising ops, bit for bit: on clean ids the same output and gradient, nothing recorded and no
// host read; with bad ids (out of range, fractional, negative, NaN) at several positions the
// lowest index and its id recorded (also across calls: the lowest of any call since the clear),
// a zero output row for each bad id and every other row the raising op's, the gradient of the
// good ids alone, and the raising ops' DataError naming the same sample and position. Used with
// the CPU engine (backend_embedding_deferred.cpp) and with the CUDA engine
// (backend_cuda_parity.cpp).
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/error.h"
#include "unit/multi_tensor_check.h"

namespace mp::embedding_test {

using multi_test::raw_bytes;
using multi_test::rnd;

// The DataError text of a raising op, or "" when it raised none.
template <class F>
std::string data_error(F&& f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

inline void embedding_deferred_matches(Backend& be) {
  for (DType dt : {DType::F32, DType::F16, DType::BF16})
    for (auto [V, D] : {std::pair<int64_t, int64_t>{1, 1}, {7, 5}, {300, 33}}) {
      CAPTURE(dtype_name(dt));
      CAPTURE(V);
      const int64_t B = 3, T = 7, N = B * T;
      std::vector<float> good(static_cast<size_t>(N));  // repeated ids
      for (int64_t i = 0; i < N; ++i) good[size_t(i)] = float((i * 5 + i / 3) % std::min<int64_t>(V, 4));
      const Tensor w = from_host_floats(be, rnd(size_t(V * D), -1, 1, 7), {V, D}, dt);
      const std::vector<float> dyv = rnd(size_t(N * D), -1, 1, 8), dw0 = rnd(size_t(V * D), -1, 1, 9);
      const Tensor dy = from_host_floats(be, dyv, {N, D}, dt);
      Tensor stats = be.make_step_stats();
      auto table = [&] { return from_host_floats(be, dw0, {V, D}, DType::F32); };

      // Clean ids: the raising ops' bits, nothing recorded, nothing read.
      const Tensor ids = from_host_floats(be, good, {B, T}, DType::F32);
      Tensor ya = be.empty({N, D}, dt), yb = be.empty({N, D}, dt);
      Tensor dwa = table(), dwb = table();
      be.embedding_forward(ids, w, yb);
      be.embedding_backward(ids, dy, dwb);
      const int64_t reads = be.host_reads();
      be.embedding_forward_deferred(ids, w, ya, stats);
      be.embedding_backward_deferred(ids, dy, dwa, stats);
      CHECK(be.host_reads() == reads);
      CHECK(!be.read_step_stats(stats).bad_token);
      CHECK(be.host_reads() == reads + 1);
      CHECK(raw_bytes(be, ya) == raw_bytes(be, yb));
      CHECK(raw_bytes(be, dwa) == raw_bytes(be, dwb));

      // Bad ids at 16 (V), 9 (0.5), 12 (-1), 19 (NaN): index 9 and its id are recorded.
      std::vector<float> bad = good;
      bad[16] = float(V);
      bad[9] = 0.5f;
      bad[12] = -1.0f;
      bad[19] = NAN;
      const Tensor bad_ids = from_host_floats(be, bad, {B, T}, DType::F32);
      be.embedding_forward_deferred(bad_ids, w, ya, stats);
      Tensor dwc = table();
      be.embedding_backward_deferred(bad_ids, dy, dwc, stats);
      StepStats s = be.read_step_stats(stats);
      CHECK(s.bad_token);
      CHECK(s.bad_token_index == 9);
      CHECK(s.bad_token_id == 0.5f);
      CHECK(!s.bad_label);
      // Output: zero rows at the bad ids, the raising op's rows elsewhere.
      const std::vector<uint8_t> got = raw_bytes(be, ya), want = raw_bytes(be, yb);
      const size_t row = size_t(D) * dtype_size(dt);
      for (int64_t i = 0; i < N; ++i) {
        CAPTURE(i);
        const bool is_bad = i == 9 || i == 12 || i == 16 || i == 19;
        const std::vector<uint8_t> r(got.begin() + long(i * row), got.begin() + long((i + 1) * row));
        if (is_bad)
          CHECK(r == std::vector<uint8_t>(row, 0));
        else if (bad[size_t(i)] == good[size_t(i)])
          CHECK(r == std::vector<uint8_t>(want.begin() + long(i * row), want.begin() + long((i + 1) * row)));
      }
      // Gradient: the raising op's on ids where each bad one is replaced by 0 with its dy row
      // zeroed (adding +0 to a sum started at +0 changes no bit).
      std::vector<float> fixed = bad, dyz = dyv;
      for (int64_t i : {9, 12, 16, 19}) {
        fixed[size_t(i)] = 0.0f;
        for (int64_t d = 0; d < D; ++d) dyz[size_t(i * D + d)] = 0.0f;
      }
      Tensor dwd = table();
      be.embedding_backward(from_host_floats(be, fixed, {B, T}, DType::F32),
                            from_host_floats(be, dyz, {N, D}, dt), dwd);
      CHECK(raw_bytes(be, dwc) == raw_bytes(be, dwd));

      // Across calls since the clear: the lowest index of any call wins, whichever came first.
      std::vector<float> early = good;
      early[3] = NAN;
      be.embedding_forward_deferred(from_host_floats(be, early, {B, T}, DType::F32), w, ya, stats);
      be.embedding_forward_deferred(bad_ids, w, ya, stats);
      s = be.read_step_stats(stats);
      CHECK(s.bad_token_index == 3);
      CHECK(std::isnan(s.bad_token_id));
      be.clear_step_stats(stats);
      CHECK(!be.read_step_stats(stats).bad_token);

      // The raising ops: the DataError at the same index (sample 1, position 2 of [3, 7]).
      const std::string tail = "at sample 1, position 2 of the batch is not an integer in [0, " +
                               std::to_string(V) + ")";
      const std::string fm = data_error([&] { be.embedding_forward(bad_ids, w, yb); });
      const std::string bm = data_error([&] { be.embedding_backward(bad_ids, dy, dwb); });
      CHECK_MESSAGE(fm.find("token id 0.5 " + tail) != std::string::npos, fm);
      CHECK(bm == fm);
    }
}

}  // namespace mp::embedding_test
