// version.cpp: MPTRAIN_VERSION is defined for this file by lib/CMakeLists.txt.
#include "core/version.h"

namespace mp {

const char* mptrain_version() { return MPTRAIN_VERSION; }

}  // namespace mp
