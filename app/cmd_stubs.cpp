// Temporary: commands not implemented yet report so and exit 1. Replaced as each command lands.
#include <cstdio>

#include "app/commands.h"

namespace mp {
int cmd_sweep(const std::string&, const std::vector<std::string>&, const std::vector<std::string>&,
              const std::string&) {
  std::fprintf(stderr, "mptrain: sweep is not implemented yet\n");
  return 1;
}
}  // namespace mp
