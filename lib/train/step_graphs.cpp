// step_graphs.cpp: StepGraphs (step_graphs.h).
#include "train/step_graphs.h"

#include <spdlog/spdlog.h>

namespace mp {

void StepGraphs::run(int64_t pos, const std::function<void()>& body) {
  if (off_) {
    ++counts_.eager;
    body();
    return;
  }
  while (static_cast<int64_t>(slots_.size()) <= pos) slots_.push_back(std::make_unique<Slot>());
  Slot& slot = *slots_[static_cast<size_t>(pos)];
  if (!slot.warm) {  // the first micro-batch at a position allocates the layers' buffers
    slot.warm = true;
    ++counts_.eager;
    body();
    return;
  }
  be_.graph_begin(slot.graph);
  try {
    body();
  } catch (...) {
    be_.graph_abort();
    throw;
  }
  switch (be_.graph_end()) {
    case GraphPass::Captured:
      ++counts_.captured;
      return;
    case GraphPass::Replayed:
      ++counts_.replayed;
      slot.misses = 0;
      return;
    case GraphPass::Eager:
      ++counts_.fell_back;
      break;
  }
  spdlog::debug("train.cuda_graph: micro-batch position {} ran eagerly: {}", pos,
                slot.graph.last_fallback());
  if (++slot.misses < kGiveUpAfter) return;
  off_ = true;
  off_reason_ = slot.graph.last_fallback();
  slots_.clear();  // frees the graphs and their tensors
  spdlog::warn("train.cuda_graph: switched off for the rest of the run: {} passes in a row of "
               "micro-batch position {} could not replay its graph; the last: {} (a graph "
               "replays the same ops on the same buffers: see docs/ARCHITECTURE.md, \"Step "
               "graphs\")",
               kGiveUpAfter, pos, off_reason_);
}

}  // namespace mp
