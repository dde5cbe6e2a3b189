// op_graph.cpp: OpGraph and Backend's graph passes (backend.h "op graphs", op_graph.h): capture,
// verify, launch, and the eager fallback.
#include "backend/op_graph.h"

#include <cstring>

#include "backend/backend.h"
#include "core/error.h"

namespace mp {

OpGraph::~OpGraph() = default;

void OpGraph::clear() {
  exec_.reset();  // first: the engine graph may hold memory of the recorded tensors' engine
  ops_.clear();
  owned_.clear();
  cursor_ = alloc_cursor_ = 0;
}

int op_sig_first_difference(const OpSig& a, const OpSig& b) {
  constexpr uint64_t kTagMask = 0xFFFF000000000000ull, kTag = 0xA5A5000000000000ull;
  int arg = -1;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if ((a[i] & kTagMask) == kTag) arg = static_cast<int>(a[i] & 0xFFFF);
    if (a[i] != b[i]) return arg < 0 ? 0 : arg;
  }
  return a.size() == b.size() ? -1 : arg + 1;
}

std::unique_ptr<EngineGraph> Backend::capture_end_impl(bool) { return nullptr; }

void Backend::graph_begin(OpGraph& g) {
  MP_CHECK(graph_ == nullptr, "graph_begin: a graph pass is already open (passes do not nest)");
  graph_ = &g;
  g.cursor_ = g.alloc_cursor_ = 0;
  if (g.recorded()) {
    pass_ = Pass::Verify;
    return;
  }
  pass_ = Pass::Capture;
  native_capture_ = capture_begin_impl();
}

GraphPass Backend::graph_end() {
  MP_CHECK(graph_ != nullptr, "graph_end: no graph pass is open");
  OpGraph& g = *graph_;
  GraphPass result = GraphPass::Eager;
  if (pass_ == Pass::Verify && (g.cursor_ != g.ops_.size() || g.alloc_cursor_ != g.owned_.size()))
    graph_fallback("the pass made " + std::to_string(g.cursor_) + " ops and " +
                   std::to_string(g.alloc_cursor_) + " allocations, the captured one " +
                   std::to_string(g.ops_.size()) + " and " + std::to_string(g.owned_.size()));
  if (pass_ == Pass::Capture) {
    if (native_capture_) {
      native_capture_ = false;
      g.exec_ = capture_end_impl(true);
    }
    result = GraphPass::Captured;
  } else if (pass_ == Pass::Verify) {
    result = GraphPass::Replayed;
  }
  // Launch (or run the recorded hooks: an engine without native graphs).
  if (result != GraphPass::Eager) {
    if (g.exec_)
      g.exec_->launch();
    else
      run_recorded(g.ops_.size());
  }
  graph_ = nullptr;
  pass_ = Pass::Eager;
  return result;
}

void Backend::graph_abort() {
  if (!graph_) return;
  if (native_capture_) {
    native_capture_ = false;
    capture_end_impl(false);
  }
  graph_->clear();
  graph_ = nullptr;
  pass_ = Pass::Eager;
}

void Backend::record_op(const char* name, OpSig sig, std::function<void()> run) {
  graph_->ops_.push_back(OpGraph::Op{name, std::move(sig), std::move(run)});
}

bool Backend::verify_op(const char* name, const OpSig& sig) {
  OpGraph& g = *graph_;
  if (g.cursor_ < g.ops_.size()) {
    const OpGraph::Op& op = g.ops_[g.cursor_];
    const bool same_op = std::strcmp(op.name, name) == 0;
    const int arg = same_op ? op_sig_first_difference(op.sig, sig) : 0;
    if (same_op && arg < 0) {
      ++g.cursor_;
      return true;
    }
    const std::string at = "op " + std::to_string(g.cursor_) + " (" + name + ")";
    graph_fallback(same_op ? at + " has a different argument " + std::to_string(arg) +
                                 " (a tensor's address, dtype or shape, or a scalar such as a "
                                 "loss scale)"
                           : at + " is not the captured pass's " + op.name);
  } else {
    graph_fallback(std::string("op ") + std::to_string(g.cursor_) + " (" + name +
                   ") is past the captured pass's " + std::to_string(g.ops_.size()) + " ops");
  }
  return false;
}

void Backend::graph_barrier(const char* op) {
  if (graph_ && pass_ != Pass::Eager && hook_depth_ == 0)
    graph_fallback(std::string(op) + " inside the pass: a graph cannot hold it (a host read, an "
                                     "upload of host memory or an optimizer update)");
}

void Backend::graph_fallback(const std::string& why) {
  OpGraph& g = *graph_;
  size_t n = g.ops_.size();
  if (pass_ == Pass::Capture && native_capture_) {
    native_capture_ = false;
    capture_end_impl(false);  // nothing captured ran: the recorded hooks run below
  } else if (pass_ == Pass::Verify) {
    n = g.cursor_;
  }
  pass_ = Pass::Eager;  // before running: the hooks' own public calls must run directly
  run_recorded(n);
  g.last_fallback_ = why;
  g.clear();
}

void Backend::run_recorded(size_t n) {
  OpGraph& g = *graph_;
  const HookScope scope(hook_depth_);
  for (size_t i = 0; i < n; ++i) g.ops_[i].run();
}

}  // namespace mp
