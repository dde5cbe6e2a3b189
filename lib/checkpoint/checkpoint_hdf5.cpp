// checkpoint_hdf5.cpp: checkpoint groups and datasets over the shared HDF5 layer.
#include "checkpoint/checkpoint_hdf5.h"

#include <algorithm>
#include <optional>

#include "core/error.h"
#include "data/h5_attr.h"
#include "data/h5_types.h"

namespace mp {

namespace {

constexpr size_t kMaxChunkBytes = size_t{16} << 20;

// Whether every element of the dataset has storage (chunked: every chunk exists).
bool fully_stored(hid_t ds, const Shape& shape, const std::string& what) {
  H5Handle dcpl = h5_check(H5Dget_create_plist(ds), "reading the storage properties of " + what);
  H5D_layout_t layout = H5Pget_layout(dcpl.get());
  if (layout == H5D_COMPACT) return true;
  if (layout == H5D_CHUNKED) {
    std::vector<hsize_t> chunk(shape.size());
    int rank = H5Pget_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data());
    h5_check_status(rank < 0 ? -1 : 0, "reading the chunking of " + what);
    hsize_t expected = 1;
    for (size_t i = 0; i < shape.size(); ++i)
      expected *= (static_cast<hsize_t>(shape[i]) + chunk[i] - 1) / chunk[i];
    H5Handle space = h5_check(H5Dget_space(ds), "reading the shape of " + what);
    hsize_t stored = 0;
    h5_check_status(H5Dget_num_chunks(ds, space.get(), &stored), "counting the chunks of " + what);
    return stored == expected;
  }
  H5D_space_status_t status{};
  h5_check_status(H5Dget_space_status(ds, &status), "reading the storage status of " + what);
  return status == H5D_SPACE_STATUS_ALLOCATED;
}

}  // namespace

H5Handle checkpoint_file_access(bool for_writing) {
  H5Handle fapl = h5_check(H5Pcreate(H5P_FILE_ACCESS), "creating file access properties");
  h5_check_status(H5Pset_file_locking(fapl.get(), false, true), "turning off file locking");
  if (for_writing)
    h5_check_status(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_LATEST),
                    "setting the file format version");
  return fapl;
}

bool h5_probe_file(const std::string& path, const std::function<bool(hid_t)>& test) {
  H5E_auto2_t old_fn = nullptr;
  void* old_data = nullptr;
  H5Eget_auto2(H5E_DEFAULT, &old_fn, &old_data);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  bool yes = false;
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f >= 0) {
    try {
      yes = test(f);
    } catch (const H5Failure&) {
      yes = false;
    }
    H5Fclose(f);
  }
  H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
  return yes;
}

H5Handle h5_create_ordered_group(hid_t parent, const std::string& name) {
  H5Handle gcpl = h5_check(H5Pcreate(H5P_GROUP_CREATE), "creating a group property list");
  h5_check_status(
      H5Pset_link_creation_order(gcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
      "enabling creation order for group " + name);
  return h5_check(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT),
                  "creating group " + name);
}

H5Handle h5_open_group(hid_t parent, const std::string& name) {
  return h5_check(H5Gopen2(parent, name.c_str(), H5P_DEFAULT), "opening group " + name);
}

bool h5_link_exists(hid_t parent, const std::string& name) {
  htri_t r = H5Lexists(parent, name.c_str(), H5P_DEFAULT);
  h5_check_status(r < 0 ? -1 : 0, "looking up " + name);
  return r > 0;
}

std::vector<std::string> h5_link_names(hid_t group) {
  H5Handle gcpl = h5_check(H5Gget_create_plist(group), "reading a group's creation properties");
  unsigned flags = 0;
  h5_check_status(H5Pget_link_creation_order(gcpl.get(), &flags),
                  "reading a group's link order flags");
  const H5_index_t index = (flags & H5P_CRT_ORDER_TRACKED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
  std::vector<std::string> names;
  hsize_t idx = 0;
  h5_check_status(H5Literate(group, index, H5_ITER_INC, &idx, h5_append_name<H5L_info_t>, &names),
                  "listing a group's members");
  return names;
}

// ---- datasets -----------------------------------------------------------------------------------

void write_float_dataset(hid_t parent, const std::string& name, const Shape& shape, DType dtype,
                         const void* values) {
  MP_CHECK(is_float(dtype), "write_float_dataset: " + name + " is not a float dtype");
  const std::string what = "dataset " + name;
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  H5Handle space =
      h5_check(dims.empty() ? H5Screate(H5S_SCALAR)
                            : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
               "creating the dataspace of " + what);
  H5Handle dcpl = h5_check(H5Pcreate(H5P_DATASET_CREATE), "creating a dataset property list");
  bool chunked =
      !dims.empty() && std::all_of(dims.begin(), dims.end(), [](hsize_t d) { return d > 0; });
  if (chunked) {
    // One chunk per <= 16 MiB slab: HDF5 caps chunks at 4 GiB, and checksums are per chunk.
    std::vector<hsize_t> chunk = dims;
    size_t bytes = dtype_size(dtype);
    for (hsize_t d : chunk) bytes *= d;
    for (size_t i = 0; i < chunk.size() && bytes > kMaxChunkBytes; ++i) {
      size_t other = bytes / chunk[i];
      chunk[i] = std::max<hsize_t>(1, kMaxChunkBytes / other);
      bytes = other * chunk[i];
    }
    h5_check_status(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()),
                    "setting the chunking of " + what);
    h5_check_status(H5Pset_fletcher32(dcpl.get()), "enabling the checksum of " + what);
  }
  // 16-bit values are written as their bits in the layout of the file type (memory = file type).
  const H5Handle type16 = dtype == DType::F16    ? h5_float16_type()
                          : dtype == DType::BF16 ? h5_bfloat16_type()
                                                 : H5Handle();
  const hid_t file_type = dtype == DType::F32 ? H5T_IEEE_F32LE : type16.get();
  const hid_t mem_type = dtype == DType::F32 ? H5T_NATIVE_FLOAT : type16.get();
  H5Handle ds = h5_check(H5Dcreate2(parent, name.c_str(), file_type, space.get(), H5P_DEFAULT,
                                    dcpl.get(), H5P_DEFAULT),
                         "creating " + what);
  if (shape_numel(shape) > 0)
    h5_check_status(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values),
                    "writing " + what);
  ds.close("closing " + what);
}

void write_f32_dataset(hid_t parent, const std::string& name, const Shape& shape,
                       const std::vector<float>& values) {
  write_float_dataset(parent, name, shape, DType::F32, values.data());
}

DType read_float_dataset(hid_t parent, const std::string& name, Shape& shape,
                         std::vector<float>& values, bool allow_16bit) {
  const std::string what = "dataset " + name;
  H5Handle ds = h5_check(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), "opening " + what);
  H5Handle type = h5_check(H5Dget_type(ds.get()), "reading the type of " + what);
  H5T_class_t cls = H5Tget_class(type.get());
  size_t size = H5Tget_size(type.get());
  const std::optional<ElemKind> kind = classify_h5_type(type.get());
  const bool ok = kind == ElemKind::F32 ||
                  (allow_16bit && (kind == ElemKind::F16 || kind == ElemKind::BF16));
  if (!ok)
    throw H5Failure(what + " is " + (kind ? std::string(elem_kind_name(*kind)) + ", " : "") +
                    h5_class_phrase(cls) + " of " + std::to_string(size) + " bytes, expected " +
                    (allow_16bit ? "float32, float16 or bfloat16" : "32-bit floats"));
  const DType stored = kind == ElemKind::F32 ? DType::F32
                       : kind == ElemKind::F16 ? DType::F16
                                               : DType::BF16;
  H5Handle space = h5_check(H5Dget_space(ds.get()), "reading the shape of " + what);
  H5S_class_t sclass = H5Sget_simple_extent_type(space.get());
  shape.clear();
  if (sclass == H5S_SIMPLE) {
    int rank = H5Sget_simple_extent_ndims(space.get());
    std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 0)));
    h5_check_status(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0 ? -1 : 0,
                    "reading the dimensions of " + what);
    shape.assign(dims.begin(), dims.end());
  } else if (sclass != H5S_SCALAR) {
    throw H5Failure(what + " has no dataspace (empty), expected an array of floats");
  }
  int64_t n = shape_numel(shape);
  values.assign(static_cast<size_t>(n), 0.0f);
  if (n == 0) return stored;
  // A dataset whose storage was never written reads back as fill values: refuse it.
  if (!fully_stored(ds.get(), shape, what))
    throw H5Failure(what + " has no (or only part of its) stored data");
  // 16-bit values are read as their bits and widened exactly here (not by HDF5's conversion).
  const H5Handle mem = memory_type(*kind);
  std::vector<uint16_t> bits(stored == DType::F32 ? 0 : static_cast<size_t>(n));
  void* dst = stored == DType::F32 ? static_cast<void*>(values.data()) : bits.data();
  h5_check_status(H5Dread(ds.get(), mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, dst),
                  "reading " + what);
  if (stored != DType::F32) convert_to_float(*kind, bits.data(), bits.size(), 1.0, values.data());
  return stored;
}

void read_f32_dataset(hid_t parent, const std::string& name, Shape& shape,
                      std::vector<float>& values) {
  read_float_dataset(parent, name, shape, values, false);
}

namespace {

void write_scalar(hid_t parent, const std::string& name, hid_t file_type, hid_t mem_type,
                  const void* v) {
  H5Handle space = h5_check(H5Screate(H5S_SCALAR), "creating a scalar dataspace");
  H5Handle ds = h5_check(H5Dcreate2(parent, name.c_str(), file_type, space.get(), H5P_DEFAULT,
                                    H5P_DEFAULT, H5P_DEFAULT),
                         "creating dataset " + name);
  h5_check_status(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v),
                  "writing dataset " + name);
}

void read_scalar(hid_t parent, const std::string& name, H5T_class_t want, hid_t mem_type, void* v) {
  if (!h5_link_exists(parent, name)) throw H5Failure("dataset " + name + " is missing");
  H5Handle ds = h5_check(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), "opening dataset " + name);
  H5Handle type = h5_check(H5Dget_type(ds.get()), "reading the type of dataset " + name);
  H5Handle space = h5_check(H5Dget_space(ds.get()), "reading the shape of dataset " + name);
  h5_check_scalar(type.get(), space.get(), want, "dataset " + name);
  h5_check_status(H5Dread(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v),
                  "reading dataset " + name);
}

}  // namespace

void write_scalar_f64(hid_t parent, const std::string& name, double v) {
  write_scalar(parent, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

void write_scalar_i64(hid_t parent, const std::string& name, int64_t v) {
  write_scalar(parent, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

double read_scalar_f64(hid_t parent, const std::string& name) {
  double v = 0;
  read_scalar(parent, name, H5T_FLOAT, H5T_NATIVE_DOUBLE, &v);
  return v;
}

int64_t read_scalar_i64(hid_t parent, const std::string& name) {
  int64_t v = 0;
  read_scalar(parent, name, H5T_INTEGER, H5T_NATIVE_INT64, &v);
  return v;
}

}  // namespace mp
