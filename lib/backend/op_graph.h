// op_graph.h: a recorded sequence of Backend ops that can be replayed (train.cuda_graph; the
// machinery is Backend's graph_begin / graph_end, backend.h, docs/ARCHITECTURE.md "Step graphs").
//
// A pass over an OpGraph runs the same host code as an eager micro-batch (layers' forward and
// backward, the loss), but the public ops do not launch one by one:
//   - capture (the graph is empty): each op is recorded (its name, a signature of its arguments,
//     and a closure that runs its hook), and an engine with native graphs (CUDA) also captures its
//     launches (stream capture); graph_end then instantiates and launches the engine's graph, or
//     runs the closures (the CPU engine: the "graph" is the closure list).
//   - verify (the graph holds a recording): each op's signature is compared with the recorded op
//     at the same position (the tensors' addresses, dtypes and shapes; every scalar argument such
//     as a loss scale); graph_end launches the recorded graph when every op
//     matched and the counts agree. Allocations (Backend::empty) inside the pass return the
//     recorded pass's tensors, so the addresses the graph was captured with stay valid.
// On the first difference, a host read (sum, download, ...) or an upload inside a pass, the ops
// seen so far run eagerly from their closures, the rest of the pass runs eagerly, and the graph is
// dropped (the next pass captures anew): the results are those of eager execution in every case,
// bit for bit, since a graph runs exactly the recorded launches with the recorded arguments.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace mp {

// An engine's executable graph (cudaGraphExec_t on CUDA); launching it runs the captured work.
class EngineGraph {
 public:
  virtual ~EngineGraph() = default;
  virtual void launch() = 0;
};

// What a pass did (Backend::graph_end).
enum class GraphPass : uint8_t {
  Captured,  // recorded (and captured), then run once
  Replayed,  // matched the recording: the graph was launched
  Eager      // fell back: every op ran eagerly, the graph was dropped (OpGraph::last_fallback)
};

// Arguments of one op as words: a tag word before each argument (its position), then the
// argument's words (a tensor: address, dtype, rank, dims; a scalar: its bits).
using OpSig = std::vector<uint64_t>;

class OpGraph {
 public:
  OpGraph() = default;
  OpGraph(const OpGraph&) = delete;
  OpGraph& operator=(const OpGraph&) = delete;
  ~OpGraph();

  bool recorded() const { return !ops_.empty() || !owned_.empty(); }
  size_t ops() const { return ops_.size(); }
  // Why the last pass fell back ("" when none has).
  const std::string& last_fallback() const { return last_fallback_; }
  void clear();  // drops the recording, its tensors and the engine graph

 private:
  friend class Backend;
  struct Op {
    const char* name;
    OpSig sig;
    std::function<void()> run;  // the op's hook with the recorded arguments (held copies)
  };
  std::vector<Op> ops_;
  std::vector<Tensor> owned_;  // every tensor Backend::empty returned during the capture pass
  std::unique_ptr<EngineGraph> exec_;
  size_t cursor_ = 0, alloc_cursor_ = 0;  // verify: the next op / allocation to compare
  std::string last_fallback_;
};

// The position of the first argument whose words differ between two signatures (-1: equal).
int op_sig_first_difference(const OpSig& a, const OpSig& b);

}  // namespace mp
