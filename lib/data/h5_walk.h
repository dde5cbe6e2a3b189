// h5_walk.h: finding objects in an HDF5 file: a depth-first walk over every group and dataset,
// and the checked open of one dataset (whose errors list the file's datasets).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "data/h5_handle.h"

namespace mp {

// Calls visit(path, object) for the root group "/" and then every group and dataset below it,
// depth first, children in name order. Links that cannot be opened (dangling soft or external
// links) are reported with an invalid object id. Each hard-linked object is visited once.
void h5_walk(hid_t file, const std::function<void(const std::string& path, hid_t obj)>& visit);

// Opens dataset `path` of `file` (opened from `file_name`). DataError when any component of the
// path is missing, cannot be opened (HDF5's reason, and the target of a soft or external link)
// or is not a dataset; the message lists the datasets the file has and the objects it cannot open.
// `dapl`: dataset access properties (chunk cache size), H5P_DEFAULT for the library's defaults.
H5Handle h5_open_dataset(hid_t file, const std::string& file_name, const std::string& path,
                         hid_t dapl = H5P_DEFAULT);

}  // namespace mp
