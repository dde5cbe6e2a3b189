#include "core/error.h"

namespace mp {

void internal_fail(const char* file, int line, const std::string& what) {
  throw InternalError(std::string("internal error at ") + file + ":" + std::to_string(line) + ": " +
                      what + " (this is a bug in mptrain; please report it)");
}

}  // namespace mp
