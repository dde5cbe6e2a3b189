// rank_agreement.h: the start-up check that the ranks of a data-parallel job train the same
// thing. Each rank hashes what must be identical everywhere (the resolved spec, the model
// signature, the data file's size and split lengths); the hashes are gathered and every rank
// compares them with rank 0's, so all ranks fail together with the same message (exit 2)
// instead of training diverging copies or hanging in a collective of another shape.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dist/communicator.h"

namespace mp {

struct RankFact {
  std::string what;   // "the resolved spec": named in the error
  std::string value;  // this rank's value (only its 64-bit hash travels)
};

// FNV-1a over the bytes of `s` (the same on every platform and process).
uint64_t fnv1a64(std::string_view s);

// ConfigError on every rank when some rank's value of a fact differs from rank 0's, naming the
// facts and the ranks. Does nothing for a single process.
void check_ranks_agree(dist::Communicator& comm, const std::vector<RankFact>& facts);

}  // namespace mp
