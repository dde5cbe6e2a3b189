// rank_agreement.cpp: gather each rank's hashes, compare with rank 0's.
#include "train/rank_agreement.h"

#include "core/error.h"

namespace mp {

uint64_t fnv1a64(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

void check_ranks_agree(dist::Communicator& comm, const std::vector<RankFact>& facts) {
  if (comm.world_size() == 1) return;
  std::vector<uint64_t> mine;
  for (const RankFact& f : facts) mine.push_back(fnv1a64(f.value));
  const std::vector<uint64_t> all = comm.all_gather_host(mine);
  std::string diffs;
  for (size_t i = 0; i < facts.size(); ++i) {
    std::string ranks;
    for (int r = 1; r < comm.world_size(); ++r)
      if (all[static_cast<size_t>(r) * facts.size() + i] != all[i])
        ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
    if (!ranks.empty())
      diffs += (diffs.empty() ? "" : "; ") + facts[i].what + " of rank " + ranks +
               " differs from rank 0's";
  }
  if (!diffs.empty())
    throw ConfigError("the " + std::to_string(comm.world_size()) +
                      " ranks of this job do not train the same run: " + diffs +
                      ". Start every rank with the same command line, spec file, --set "
                      "overrides and data file (scripts/launch.sh does)");
}

}  // namespace mp
