// h5_write.h: small helpers to write datasets and attributes into an HDF5 data file — used by the
// synthetic data generator and by tests. (Checkpoints have their own layout: checkpoint_hdf5.h.)
// Failures are DataErrors naming the file path inside the HDF5 file and HDF5's own message.
#pragma once
#include <cstdint>
#include <string>

#include "core/half.h"
#include "core/tensor.h"
#include "data/h5_handle.h"

namespace mp {

// Writes dataset `path` (absolute; missing parent groups are created) of `shape` from `data`
// laid out row-major in `mem_type`, stored as `file_type`. gzip_level 1..9 stores it chunked
// and deflate-compressed (rows of about 1 MiB per chunk); 0 stores it contiguous.
void h5_write_dataset(hid_t file, const std::string& path, hid_t file_type, hid_t mem_type,
                      const Shape& shape, const void* data, int gzip_level = 0);

// Typed shortcuts: the element type of `data` picks the stored type (half -> IEEE float16 as
// numpy writes it, bfloat16 -> the bfloat16 float layout).
void h5_write(hid_t file, const std::string& path, const Shape& shape, const float* data, int gzip_level = 0);
void h5_write(hid_t file, const std::string& path, const Shape& shape, const double* data, int gzip_level = 0);
void h5_write(hid_t file, const std::string& path, const Shape& shape, const uint8_t* data, int gzip_level = 0);
void h5_write(hid_t file, const std::string& path, const Shape& shape, const int32_t* data, int gzip_level = 0);
void h5_write(hid_t file, const std::string& path, const Shape& shape, const int64_t* data, int gzip_level = 0);
void h5_write(hid_t file, const std::string& path, const Shape& shape, const half* data, int gzip_level = 0);
void h5_write(hid_t file, const std::string& path, const Shape& shape, const bfloat16* data, int gzip_level = 0);

// Sets attribute `name` on the object at `obj_path` ("/" for the root), replacing an old one
// (h5_attr.h writes it; this names the file and the object in the DataError).
void h5_write_attr(hid_t file, const std::string& obj_path, const std::string& name, const std::string& value);
void h5_write_attr(hid_t file, const std::string& obj_path, const std::string& name, int64_t value);
void h5_write_attr(hid_t file, const std::string& obj_path, const std::string& name, double value);

}  // namespace mp
