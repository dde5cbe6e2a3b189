// h5_write.cpp: dataset and attribute writers.
#include "data/h5_write.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
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

void write_attr(hid_t file, const std::string& obj_path, const std::string& name, hid_t file_type,
                hid_t mem_type, const void* value) {
  h5_silence_errors();
  if (H5Aexists_by_name(file, obj_path.c_str(), name.c_str(), H5P_DEFAULT) > 0)
    H5Adelete_by_name(file, obj_path.c_str(), name.c_str(), H5P_DEFAULT);
  H5Handle space(H5Screate(H5S_SCALAR));
  H5Handle a(H5Acreate_by_name(file, obj_path.c_str(), name.c_str(), file_type, space.get(),
                               H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  if (!a.valid()) fail(file, obj_path, "cannot create attribute " + name);
  if (H5Awrite(a.get(), mem_type, value) < 0) fail(file, obj_path, "cannot write attribute " + name);
}

}  // namespace

void h5_write_attr(hid_t file, const std::string& obj_path, const std::string& name,
                   const std::string& value) {
  H5Handle t(H5Tcopy(H5T_C_S1));
  H5Tset_size(t.get(), H5T_VARIABLE);
  H5Tset_cset(t.get(), H5T_CSET_UTF8);
  const char* p = value.c_str();
  write_attr(file, obj_path, name, t.get(), t.get(), &p);
}

void h5_write_attr(hid_t file, const std::string& obj_path, const std::string& name, int64_t value) {
  write_attr(file, obj_path, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

void h5_write_attr(hid_t file, const std::string& obj_path, const std::string& name, double value) {
  write_attr(file, obj_path, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

}  // namespace mp
