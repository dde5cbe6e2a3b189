// describe_h5.h: the text `mptrain inspect FILE.h5` prints — every group and dataset of the
// file (path, element type, shape, chunking and compression) with every attribute's value.
// Works on data sets and checkpoints alike; a checkpoint's root attributes (format_version,
// step, policy, data cursor, resolved config) come out as they are stored.
#pragma once
#include <string>

namespace mp {

// DataError when the file is missing or not HDF5.
std::string describe_h5(const std::string& path);

}  // namespace mp
