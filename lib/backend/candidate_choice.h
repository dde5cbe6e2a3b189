// candidate_choice.h: trying alternatives in order and remembering the first that works.
// The cuBLASLt plan cache (cuda/cuda_gemm.cpp) asks the heuristic for several algorithms, best
// first; an algorithm can still be refused at execution (CUBLAS_STATUS_NOT_SUPPORTED), so a
// plan's first execution tries them in order, keeps the one that ran, and fails only when every
// one refused. Kept CUDA-free so the ordering is unit-tested (tests/unit/backend_candidate_choice).
// Compiled by both g++ and nvcc (C++17).
#pragma once

namespace mp {

class CandidateChoice {
 public:
  // `count` candidates, indices 0..count-1 in order of preference.
  explicit CandidateChoice(int count = 0) : count_(count) {}

  // Runs try_at(i) for the remembered candidate (0 before any succeeded) and, while it returns
  // false ("refused"), for each later one; remembers and returns the first i that returned true.
  // Returns -1 when every remaining candidate refused; the choice then starts again from 0 on
  // the next call. Errors other than a refusal are try_at's to throw.
  template <class F>
  int run(F&& try_at) {
    for (int i = chosen_ < 0 ? 0 : chosen_; i < count_; ++i) {
      if (try_at(i)) {
        chosen_ = i;
        return i;
      }
    }
    chosen_ = -1;
    return -1;
  }

  int count() const { return count_; }
  int chosen() const { return chosen_; }  // -1 until a candidate has worked

 private:
  int count_;
  int chosen_ = -1;
};

}  // namespace mp
