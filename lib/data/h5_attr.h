// h5_attr.h: scalar attributes on an open HDF5 object (the root group, a group, a dataset), shared
// by data files (h5_write.h) and checkpoints. Writers replace an attribute of the same name.
// Readers check that the attribute exists, has the expected type class and holds one value.
// Every failure throws H5Failure (h5_handle.h) saying what was tried, which the caller turns into
// a DataError naming the file.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mp {

void h5_write_attr_i64(hid_t obj, const std::string& name, int64_t v);
void h5_write_attr_u64(hid_t obj, const std::string& name, uint64_t v);
void h5_write_attr_f64(hid_t obj, const std::string& name, double v);
// Stored as a variable-length UTF-8 string, as h5py writes str.
void h5_write_attr_str(hid_t obj, const std::string& name, const std::string& v);

bool h5_attr_exists(hid_t obj, const std::string& name);
int64_t h5_read_attr_i64(hid_t obj, const std::string& name);
uint64_t h5_read_attr_u64(hid_t obj, const std::string& name);
// Variable-length or fixed-length (NUL-padded) strings.
std::string h5_read_attr_str(hid_t obj, const std::string& name);
H5T_class_t h5_attr_class(hid_t obj, const std::string& name);
// Names of the attributes of `obj`, by name.
std::vector<std::string> h5_attr_names(hid_t obj);

// H5Failure unless `type` has the class `want` and `space` holds exactly one value: "<what> is a
// string, expected an integer", "<what> holds several values, expected one". For scalar
// attributes and scalar datasets.
void h5_check_scalar(hid_t type, hid_t space, H5T_class_t want, const std::string& what);

// "an integer", "a float", "a string", ... for "X is <phrase>, expected ..." messages.
const char* h5_class_phrase(H5T_class_t c);

}  // namespace mp
