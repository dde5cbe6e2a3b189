// version.h: the version of this mptrain build (the project() version in CMakeLists.txt), as
// --version prints it and checkpoints and weight files record it.
#pragma once

namespace mp {

const char* mptrain_version();

}  // namespace mp
