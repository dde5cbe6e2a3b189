// cuda_graph.cpp: CudaBackend's native graphs for Backend's graph passes (backend.h "op graphs",
// op_graph.h): stream capture of a pass's launches, instantiation, launch. The allocator holds
// every block freed during the capture for the graph (the kernels use them at each replay) and
// retires grown scratch buffers while graphs live (cuda_memory.h).
// Capture mode is cudaStreamCaptureModeRelaxed: the allocator may cudaMalloc while the working
// set still grows inside a capture; no op inside a pass synchronises or copies to the host (the
// Backend front door ends the pass before any op that would).
#include <cuda_runtime_api.h>

#include <string>
#include <utility>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"

namespace mp::cuda {

namespace {

class CudaGraph final : public EngineGraph {
 public:
  CudaGraph(CudaBackend& be, cudaGraphExec_t exec, std::shared_ptr<CachingAllocator> alloc,
            std::vector<CachingAllocator::Block> held)
      : be_(be), exec_(exec), alloc_(std::move(alloc)), held_(std::move(held)) {
    alloc_->graph_created();
  }
  ~CudaGraph() override {
    // An in-flight launch completes first (the runtime frees the graph when it is done); work
    // queued after it on the stream may then reuse the held blocks.
    (void)cudaGraphExecDestroy(exec_);
    alloc_->release_blocks(held_);
    alloc_->graph_destroyed();
  }
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  void launch() override {
    const cudaStream_t s = be_.bound_stream();
    MP_CUDA_CHECK(cudaGraphLaunch(exec_, s));
    if (sync_check_enabled()) {
      const cudaError_t err = cudaStreamSynchronize(s);
      if (err != cudaSuccess)
        cuda_fail(__FILE__, __LINE__,
                  "a CUDA graph's kernels (MPTRAIN_CUDA_SYNC_CHECK: synchronised after its "
                  "launch; rerun without train.cuda_graph to name the kernel)",
                  err);
    }
  }

 private:
  CudaBackend& be_;
  cudaGraphExec_t exec_;
  std::shared_ptr<CachingAllocator> alloc_;
  std::vector<CachingAllocator::Block> held_;
};

}  // namespace

bool CudaBackend::capture_begin_impl() {
  const cudaStream_t s = bound_stream();
  alloc_->begin_capture();
  capturing_graph() = true;
  const cudaError_t err = cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed);
  if (err != cudaSuccess) {
    capturing_graph() = false;
    alloc_->release_blocks(alloc_->end_capture());
    cuda_fail(__FILE__, __LINE__, "cudaStreamBeginCapture", err);
  }
  return true;
}

std::unique_ptr<EngineGraph> CudaBackend::capture_end_impl(bool keep) {
  cudaGraph_t graph = nullptr;
  const cudaError_t err = cudaStreamEndCapture(stream_, &graph);
  capturing_graph() = false;
  std::vector<CachingAllocator::Block> held = alloc_->end_capture();
  if (err != cudaSuccess || !keep) {
    // Nothing captured has run: the blocks freed during the capture are free.
    if (graph) (void)cudaGraphDestroy(graph);
    (void)cudaGetLastError();  // an invalidated capture's error is not sticky
    alloc_->release_blocks(held);
    if (keep)  // an op broke the capture without failing itself: its error says which call
      cuda_fail(__FILE__, __LINE__, "cudaStreamEndCapture (train.cuda_graph)", err);
    return nullptr;
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t ierr = cudaGraphInstantiate(&exec, graph, 0);
  (void)cudaGraphDestroy(graph);  // the executable graph keeps what it needs
  if (ierr != cudaSuccess) {
    alloc_->release_blocks(held);
    cuda_fail(__FILE__, __LINE__, "cudaGraphInstantiate (train.cuda_graph)", ierr);
  }
  return std::make_unique<CudaGraph>(*this, exec, alloc_, std::move(held));
}

}  // namespace mp::cuda
