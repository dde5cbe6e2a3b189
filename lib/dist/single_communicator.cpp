// single_communicator.cpp: the communicator of a process that is the whole job (world size 1):
// reductions leave the buffer as it is, the sharded collectives copy (the one shard is the
// whole buffer), barrier returns at once. Needs no MPI at run time.
#include "backend/backend.h"
#include "dist/communicator.h"

namespace mp::dist {

namespace {

class SingleCommunicator final : public Communicator {
 public:
  explicit SingleCommunicator(Backend& be) : Communicator(be) {}
  void barrier() override {}

 protected:
  void all_reduce_(Tensor&, ReduceOp) override {}
  void reduce_scatter_(const Tensor& full, Tensor& shard, ReduceOp) override {
    if (full.numel() > 0) be_.copy(full, shard);
  }
  void all_gather_(const Tensor& shard, Tensor& full, bool in_place) override {
    if (!in_place && full.numel() > 0) be_.copy(shard, full);
  }
  void broadcast_(Tensor&, int) override {}
};

}  // namespace

std::unique_ptr<Communicator> make_single_communicator(Backend& backend) {
  return std::make_unique<SingleCommunicator>(backend);
}

}  // namespace mp::dist
