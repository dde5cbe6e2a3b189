// Temporary: commands not implemented yet report so and exit 1. Replaced as each command lands.
#include <cstdio>

#include "app/commands.h"

namespace mp {
int cmd_train(const RunSpec&, const TrainOptions&) {
  std::fprintf(stderr, "mptrain: training is not implemented yet\n");
  return 1;
}
int cmd_eval(const RunSpec&, const std::string&, const TrainOptions&) {
  std::fprintf(stderr, "mptrain: eval is not implemented yet\n");
  return 1;
}
int cmd_inspect(const std::string&) {
  std::fprintf(stderr, "mptrain: inspect is not implemented yet\n");
  return 1;
}
int cmd_sweep(const std::string&, const std::vector<std::string>&, const std::vector<std::string>&,
              const std::string&) {
  std::fprintf(stderr, "mptrain: sweep is not implemented yet\n");
  return 1;
}
}  // namespace mp
