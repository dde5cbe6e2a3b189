// h5_storage.h: how a dataset is stored, checked before its first read: the filters in its
// pipeline (compression, shuffle, checksums) must be available in this HDF5 build, and every
// part of it must have been written (an unwritten chunk reads as the fill value, not data).
// Both failures otherwise surface late, as a misleading HDF5 error at the first batch ("can't
// open directory: .../plugins"), or not at all.
//
// A filter marked optional (h5py marks lzf so) is skipped for a chunk it could not shrink, so a
// file may be readable without it: such a filter is not refused at open, but named when a read
// fails (h5_missing_optional_filter).
#pragma once
#include <hdf5.h>

#include <string>
#include <vector>

namespace mp {

struct H5Filter {
  H5Z_filter_t id = 0;
  std::string name;        // as stored in the file ("lzf", "deflate"), else a known name, else ""
  unsigned level = 0;      // gzip: the compression level (first client value)
  bool optional = false;   // H5Z_FLAG_OPTIONAL: chunks it failed to shrink are stored without it
  bool available = false;  // this HDF5 build can run it (built in or a loadable plugin)
};

// The filter pipeline of a dataset creation property list, in order.
std::vector<H5Filter> h5_filters(hid_t dcpl);

// "the lzf compression filter (id 32000)", "the shuffle filter (id 2)", "filter (id 40000)".
std::string h5_filter_label(const H5Filter& f);

// DataError (`what` prefixes the message: "FILE: dataset PATH: ") when the dataset `ds` needs a
// mandatory filter this build lacks, or declares rows that were never written.
void h5_check_storage(hid_t ds, const std::string& what);

// The label of the first optional filter of `ds` this build lacks, "" when there is none.
std::string h5_missing_optional_filter(hid_t ds);

// "uses the lzf compression filter (id 32000), which this HDF5 build lacks; rewrite ..." for
// the filter labelled `label` (h5_filter_label).
std::string h5_missing_filter_message(const std::string& label);

}  // namespace mp
