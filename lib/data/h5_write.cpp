// h5_write.cpp: dataset and attribute writers.
#include "data/h5_write.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "data/h5_attr.h"
#include "data/h5_types.h"

namespace mp {

namespace {

[[noreturn]] void fail(hid_t file, const std::string& path, const std::string& what) {
  char name[1024] = "";
  H5Fget_name(file, name, sizeof name);
  throw DataError(std::string(name) + ": " + path + ": " + what + " (HDF5: " + h5_last_error() +
                  "); check that the file is writable and the path is free");
}

H5Handle link_create_plist() {
  H5Handle lcpl(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  return lcpl;
}

}  // namespace

void h5_write_dataset(hid_t file, const std::string& path, hid_t file_type, hid_t mem_type,
                      const Shape& shape, const void* data, int gzip_level) {
  h5_silence_errors();
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  H5Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  if (!space.valid()) fail(file, path, "cannot create a dataspace of shape " + shape_str(shape));
  H5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  if (gzip_level > 0 && !dims.empty() && shape_numel(shape) > 0) {
    std::vector<hsize_t> chunk = dims;
    const size_t row_bytes =
        std::max<size_t>(1, H5Tget_size(file_type) * static_cast<size_t>(shape_numel(shape) / shape[0]));
    chunk[0] = std::clamp<hsize_t>((1u << 20) / row_bytes, 1, dims[0]);
    H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data());
    H5Pset_deflate(dcpl.get(), static_cast<unsigned>(std::min(gzip_level, 9)));
  }
  H5Handle lcpl = link_create_plist();
  H5Handle ds(H5Dcreate2(file, path.c_str(), file_type, space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT));
  if (!ds.valid()) fail(file, path, "cannot create the dataset");
  if (shape_numel(shape) > 0 &&
      H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
    fail(file, path, "cannot write the dataset");
  }
}

#define MP_H5_WRITE(T, FILE_TYPE, MEM_TYPE)                                                  \
  void h5_write(hid_t file, const std::string& path, const Shape& shape, const T* data,      \
                int gzip_level) {                                                            \
    h5_write_dataset(file, path, FILE_TYPE, MEM_TYPE, shape, data, gzip_level);              \
  }
MP_H5_WRITE(float, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT)
MP_H5_WRITE(double, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE)
MP_H5_WRITE(uint8_t, H5T_STD_U8LE, H5T_NATIVE_UINT8)
MP_H5_WRITE(int32_t, H5T_STD_I32LE, H5T_NATIVE_INT32)
MP_H5_WRITE(int64_t, H5T_STD_I64LE, H5T_NATIVE_INT64)
#undef MP_H5_WRITE

void h5_write(hid_t file, const std::string& path, const Shape& shape, const half* data, int gzip_level) {
  const H5Handle t = h5_float16_type();
  h5_write_dataset(file, path, t.get(), t.get(), shape, data, gzip_level);
}

void h5_write(hid_t file, const std::string& path, const Shape& shape, const bfloat16* data, int gzip_level) {
  const H5Handle t = h5_bfloat16_type();
  h5_write_dataset(file, path, t.get(), t.get(), shape, data, gzip_level);
}

namespace {

// Sets the attribute through `set` (an h5_attr.h writer) on the object at obj_path.
template <class Set>
void write_attr_at(hid_t file, const std::string& obj_path, const std::string& name, Set set) {
  h5_silence_errors();
  H5Handle obj(H5Oopen(file, obj_path.c_str(), H5P_DEFAULT));
  if (!obj.valid()) fail(file, obj_path, "cannot open the object to set attribute " + name);
  try {
    set(obj.get(), name);
  } catch (const H5Failure& e) {
    char file_name[1024] = "";
    H5Fget_name(file, file_name, sizeof file_name);
    throw DataError(std::string(file_name) + ": " + obj_path + ": " + e.what() +
                    "; check that the file is writable and the path is free");
  }
}

}  // namespace

void h5_write_attr(hid_t file, const std::string& obj_path, const std::string& name,
                   const std::string& value) {
  write_attr_at(file, obj_path, name,
                [&](hid_t obj, const std::string& n) { h5_write_attr_str(obj, n, value); });
}

void h5_write_attr(hid_t file, const std::string& obj_path, const std::string& name, int64_t value) {
  write_attr_at(file, obj_path, name,
                [&](hid_t obj, const std::string& n) { h5_write_attr_i64(obj, n, value); });
}

void h5_write_attr(hid_t file, const std::string& obj_path, const std::string& name, double value) {
  write_attr_at(file, obj_path, name,
                [&](hid_t obj, const std::string& n) { h5_write_attr_f64(obj, n, value); });
}

}  // namespace mp
