// checkpoint_hdf5.h: the groups and datasets of the checkpoint layout (checkpoint_io.h) over the
// shared HDF5 layer (data/h5_handle.h: handles, silencing, error capture; data/h5_attr.h:
// attributes). Every failed call throws H5Failure carrying the call's purpose plus HDF5's error
// text; the checkpoint reader and writer turn that into a DataError naming the file.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"  // Shape
#include "data/h5_handle.h"

namespace mp {

// File access properties for checkpoints: no HDF5 file locking (files appear by rename only, so
// nobody reads a file being written, and locking fails on some network file systems); for writing,
// the v1.8+ format (link creation order, large attributes, metadata checksums).
H5Handle checkpoint_file_access(bool for_writing);

// Opens `path` read-only with HDF5's error printing off and returns test(file); false when it does
// not open as HDF5 or `test` throws H5Failure. For "is this one of our files?" probes.
bool h5_probe_file(const std::string& path, const std::function<bool(hid_t)>& test);

// A group whose links remember creation order (so params read back in model order).
H5Handle h5_create_ordered_group(hid_t parent, const std::string& name);
H5Handle h5_open_group(hid_t parent, const std::string& name);
bool h5_link_exists(hid_t parent, const std::string& name);
// Names of the links in `group`, in creation order when tracked, else by name.
std::vector<std::string> h5_link_names(hid_t group);

// Float tensors are stored chunked with a Fletcher-32 checksum, so silent corruption of the values
// is caught on read, not just truncation.
// write_float_dataset stores `values` (shape_numel(shape) elements of `dtype`: float, or the bits of
// half / bfloat16) as float32, IEEE float16 (numpy's float16) or the bfloat16 float layout (h5py
// reads it as float32, exactly). read_float_dataset widens any of them exactly to fp32 and returns
// the stored dtype; with allow_16bit false only float32 is accepted (checkpoints).
void write_float_dataset(hid_t parent, const std::string& name, const Shape& shape, DType dtype,
                         const void* values);
DType read_float_dataset(hid_t parent, const std::string& name, Shape& shape,
                         std::vector<float>& values, bool allow_16bit);
void write_f32_dataset(hid_t parent, const std::string& name, const Shape& shape,
                       const std::vector<float>& values);
void read_f32_dataset(hid_t parent, const std::string& name, Shape& shape,
                      std::vector<float>& values);
// Scalar datasets (/scaler/<field>).
void write_scalar_f64(hid_t parent, const std::string& name, double v);
void write_scalar_i64(hid_t parent, const std::string& name, int64_t v);
double read_scalar_f64(hid_t parent, const std::string& name);
int64_t read_scalar_i64(hid_t parent, const std::string& name);

}  // namespace mp
