// step_graphs.h: train.cuda_graph -- each micro-batch's forward, loss and backward run as a graph
// pass (Backend::graph_begin / graph_end, backend/op_graph.h): captured once, then verified and
// replayed every step while the host code makes the same ops with the same arguments, so a step
// costs a handful of launches instead of one per op. What a graph cannot hold stays outside: the
// batch upload before the pass, and the optimizer step after the last micro-batch (the one read of
// the step stats, the gradient check, the multi-tensor update: three launches).
// The first micro-batch at each position runs eagerly (the layers allocate their buffers), the
// second captures. One graph per micro-batch position of the step (accumulation: their ops may
// differ). Dropout replays: its layers pass their stream number and the device value
// Context::rng_base (the micro-batch's rng_offset << 16, uploaded by TrainStep before the pass).
// A pass that falls back (a different shape: the epoch's last, short batch; a changed scalar: a
// new loss scale; a reallocated buffer) runs eagerly and the next one captures again. When every
// pass of a position keeps falling back (kGiveUpAfter in a row without a replay), graphs are
// switched off for the run with one warning that names the reason.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace mp {

class StepGraphs {
 public:
  static constexpr int kGiveUpAfter = 3;

  explicit StepGraphs(Backend& be) : be_(be) {}

  // Runs `body` (one micro-batch's ops, no host reads) as a pass over position `pos`'s graph, or
  // eagerly once graphs are off. An exception aborts the pass and propagates.
  void run(int64_t pos, const std::function<void()>& body);

  struct Counts {
    int64_t captured = 0;  // passes that captured a graph (and ran it once)
    int64_t replayed = 0;  // passes that launched a captured graph
    int64_t fell_back = 0; // passes that fell back to eager execution
    int64_t eager = 0;     // micro-batches run without a pass (warm-up, or graphs off)
  };
  const Counts& counts() const { return counts_; }
  bool off() const { return off_; }
  const std::string& off_reason() const { return off_reason_; }

 private:
  struct Slot {
    OpGraph graph;
    int misses = 0;     // passes in a row that fell back, or captured then fell back
    bool warm = false;  // a micro-batch has run at this position (eagerly)
  };
  Backend& be_;
  std::vector<std::unique_ptr<Slot>> slots_;
  Counts counts_;
  bool off_ = false;
  std::string off_reason_;
};

}  // namespace mp
