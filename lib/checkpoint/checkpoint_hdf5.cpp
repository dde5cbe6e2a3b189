// checkpoint_hdf5.cpp: RAII handles, error capture and typed read/write helpers over the HDF5 C
// API.
#include "checkpoint/checkpoint_hdf5.h"

#include <algorithm>
#include <cstring>

namespace mp::h5 {

namespace {

herr_t collect_error(unsigned, const H5E_error2_t* e, void* data) {
  auto* out = static_cast<std::vector<std::string>*>(data);
  std::string desc = e->desc ? e->desc : "";
  if (desc.empty() && e->func_name) desc = std::string("error in ") + e->func_name;
  out->push_back(desc);
  return 0;
}

// The current thread's HDF5 error stack as one line (outermost failure, then the root cause), and
// clears it so the next failure starts fresh.
std::string take_error_text() {
  std::vector<std::string> msgs;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &msgs);
  H5Eclear2(H5E_DEFAULT);
  msgs.erase(std::remove(msgs.begin(), msgs.end(), std::string()), msgs.end());
  if (msgs.empty()) return "HDF5 gave no detail";
  if (msgs.size() == 1) return msgs.front();
  return msgs.front() + " (cause: " + msgs.back() + ")";
}

const char* class_name(H5T_class_t c) {
  switch (c) {
    case H5T_INTEGER:
      return "an integer";
    case H5T_FLOAT:
      return "a float";
    case H5T_STRING:
      return "a string";
    case H5T_COMPOUND:
      return "a compound";
    case H5T_ARRAY:
      return "an array";
    default:
      return "a non-numeric";
  }
}

constexpr size_t kMaxChunkBytes = size_t{16} << 20;

// Whether every element of the dataset has storage (chunked: every chunk exists).
bool fully_stored(hid_t ds, const Shape& shape, const std::string& what) {
  Handle dcpl = plist_handle(H5Dget_create_plist(ds), "reading the storage properties of " + what);
  H5D_layout_t layout = H5Pget_layout(dcpl.get());
  if (layout == H5D_COMPACT) return true;
  if (layout == H5D_CHUNKED) {
    std::vector<hsize_t> chunk(shape.size());
    int rank = H5Pget_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data());
    check_status(rank < 0 ? -1 : 0, "reading the chunking of " + what);
    hsize_t expected = 1;
    for (size_t i = 0; i < shape.size(); ++i)
      expected *= (static_cast<hsize_t>(shape[i]) + chunk[i] - 1) / chunk[i];
    Handle space = space_handle(H5Dget_space(ds), "reading the shape of " + what);
    hsize_t stored = 0;
    check_status(H5Dget_num_chunks(ds, space.get(), &stored), "counting the chunks of " + what);
    return stored == expected;
  }
  H5D_space_status_t status{};
  check_status(H5Dget_space_status(ds, &status), "reading the storage status of " + what);
  return status == H5D_SPACE_STATUS_ALLOCATED;
}

}  // namespace

Hdf5Quiet::Hdf5Quiet() {
  H5Eget_auto2(H5E_DEFAULT, &old_func_, &old_data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

Hdf5Quiet::~Hdf5Quiet() { H5Eset_auto2(H5E_DEFAULT, old_func_, old_data_); }

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    closer_ = o.closer_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Handle::reset() {
  if (id_ >= 0 && closer_) closer_(id_);
  id_ = H5I_INVALID_HID;
}

void Handle::close(const std::string& what) {
  hid_t id = id_;
  id_ = H5I_INVALID_HID;
  if (id >= 0 && closer_) check_status(closer_(id), what);
}

hid_t check_id(hid_t id, const std::string& what) {
  if (id < 0) throw Hdf5Failure(what + ": " + take_error_text());
  return id;
}

void check_status(herr_t status, const std::string& what) {
  if (status < 0) throw Hdf5Failure(what + ": " + take_error_text());
}

Handle file_handle(hid_t id, const std::string& what) { return {check_id(id, what), H5Fclose}; }
Handle group_handle(hid_t id, const std::string& what) { return {check_id(id, what), H5Gclose}; }
Handle dataset_handle(hid_t id, const std::string& what) { return {check_id(id, what), H5Dclose}; }
Handle attribute_handle(hid_t id, const std::string& what) {
  return {check_id(id, what), H5Aclose};
}
Handle space_handle(hid_t id, const std::string& what) { return {check_id(id, what), H5Sclose}; }
Handle type_handle(hid_t id, const std::string& what) { return {check_id(id, what), H5Tclose}; }
Handle plist_handle(hid_t id, const std::string& what) { return {check_id(id, what), H5Pclose}; }

Handle checkpoint_file_access(bool for_writing) {
  Handle fapl = plist_handle(H5Pcreate(H5P_FILE_ACCESS), "creating file access properties");
  check_status(H5Pset_file_locking(fapl.get(), false, true), "turning off file locking");
  if (for_writing)
    check_status(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_LATEST),
                 "setting the file format version");
  return fapl;
}

Handle create_ordered_group(hid_t parent, const std::string& name) {
  Handle gcpl = plist_handle(H5Pcreate(H5P_GROUP_CREATE), "creating a group property list");
  check_status(
      H5Pset_link_creation_order(gcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
      "enabling creation order for group " + name);
  return group_handle(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT),
                      "creating group " + name);
}

Handle open_group(hid_t parent, const std::string& name) {
  return group_handle(H5Gopen2(parent, name.c_str(), H5P_DEFAULT), "opening group " + name);
}

bool link_exists(hid_t parent, const std::string& name) {
  htri_t r = H5Lexists(parent, name.c_str(), H5P_DEFAULT);
  check_status(r < 0 ? -1 : 0, "looking up " + name);
  return r > 0;
}

std::vector<std::string> link_names(hid_t group) {
  Handle gcpl = plist_handle(H5Gget_create_plist(group), "reading a group's creation properties");
  unsigned flags = 0;
  check_status(H5Pget_link_creation_order(gcpl.get(), &flags),
               "reading a group's link order flags");
  const H5_index_t index = (flags & H5P_CRT_ORDER_TRACKED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
  std::vector<std::string> names;
  auto cb = [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
    static_cast<std::vector<std::string>*>(data)->push_back(name);
    return 0;
  };
  hsize_t idx = 0;
  check_status(H5Literate(group, index, H5_ITER_INC, &idx, cb, &names),
               "listing a group's members");
  return names;
}

// ---- attributes ---------------------------------------------------------------------------------

namespace {

void write_attr_raw(hid_t obj, const std::string& name, hid_t file_type, hid_t mem_type,
                    const void* value) {
  Handle space = space_handle(H5Screate(H5S_SCALAR), "creating a scalar dataspace");
  Handle attr = attribute_handle(
      H5Acreate2(obj, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT),
      "creating attribute " + name);
  check_status(H5Awrite(attr.get(), mem_type, value), "writing attribute " + name);
}

// Opens a scalar attribute of the expected type class.
Handle open_scalar_attr(hid_t obj, const std::string& name, H5T_class_t want,
                        const char* want_text) {
  if (!attr_exists(obj, name)) throw Hdf5Failure("attribute '" + name + "' is missing");
  Handle attr =
      attribute_handle(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "opening attribute " + name);
  Handle type = type_handle(H5Aget_type(attr.get()), "reading the type of attribute " + name);
  H5T_class_t cls = H5Tget_class(type.get());
  if (cls != want)
    throw Hdf5Failure("attribute '" + name + "' is " + class_name(cls) + ", expected " + want_text);
  Handle space = space_handle(H5Aget_space(attr.get()), "reading the shape of attribute " + name);
  if (H5Sget_simple_extent_npoints(space.get()) != 1)
    throw Hdf5Failure("attribute '" + name + "' holds several values, expected one");
  return attr;
}

}  // namespace

void write_attr_i64(hid_t obj, const std::string& name, int64_t v) {
  write_attr_raw(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

void write_attr_u64(hid_t obj, const std::string& name, uint64_t v) {
  write_attr_raw(obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
}

void write_attr_str(hid_t obj, const std::string& name, const std::string& v) {
  Handle type = type_handle(H5Tcopy(H5T_C_S1), "creating a string type");
  check_status(H5Tset_size(type.get(), H5T_VARIABLE), "making a variable-length string type");
  check_status(H5Tset_cset(type.get(), H5T_CSET_UTF8), "setting UTF-8 on a string type");
  const char* p = v.c_str();
  write_attr_raw(obj, name, type.get(), type.get(), &p);
}

bool attr_exists(hid_t obj, const std::string& name) {
  htri_t r = H5Aexists(obj, name.c_str());
  check_status(r < 0 ? -1 : 0, "looking up attribute " + name);
  return r > 0;
}

int64_t read_attr_i64(hid_t obj, const std::string& name) {
  Handle attr = open_scalar_attr(obj, name, H5T_INTEGER, "an integer");
  int64_t v = 0;
  check_status(H5Aread(attr.get(), H5T_NATIVE_INT64, &v), "reading attribute " + name);
  return v;
}

uint64_t read_attr_u64(hid_t obj, const std::string& name) {
  Handle attr = open_scalar_attr(obj, name, H5T_INTEGER, "an integer");
  uint64_t v = 0;
  check_status(H5Aread(attr.get(), H5T_NATIVE_UINT64, &v), "reading attribute " + name);
  return v;
}

std::string read_attr_str(hid_t obj, const std::string& name) {
  Handle attr = open_scalar_attr(obj, name, H5T_STRING, "a string");
  Handle ftype = type_handle(H5Aget_type(attr.get()), "reading the type of attribute " + name);
  htri_t variable = H5Tis_variable_str(ftype.get());
  check_status(variable < 0 ? -1 : 0, "reading the type of attribute " + name);
  if (variable > 0) {
    Handle mtype = type_handle(H5Tcopy(H5T_C_S1), "creating a string type");
    check_status(H5Tset_size(mtype.get(), H5T_VARIABLE), "making a variable-length string type");
    check_status(H5Tset_cset(mtype.get(), H5Tget_cset(ftype.get())), "setting a string charset");
    char* p = nullptr;
    check_status(H5Aread(attr.get(), mtype.get(), &p), "reading attribute " + name);
    std::string s = p ? p : "";
    H5free_memory(p);
    return s;
  }
  size_t size = H5Tget_size(ftype.get());
  std::string s(size, '\0');
  check_status(H5Aread(attr.get(), ftype.get(), s.data()), "reading attribute " + name);
  s.resize(std::strlen(s.c_str()));  // fixed-length strings are NUL-padded
  return s;
}

H5T_class_t attr_type_class(hid_t obj, const std::string& name) {
  Handle attr =
      attribute_handle(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "opening attribute " + name);
  Handle type = type_handle(H5Aget_type(attr.get()), "reading the type of attribute " + name);
  return H5Tget_class(type.get());
}

std::vector<std::string> attr_names(hid_t obj) {
  std::vector<std::string> names;
  auto cb = [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
    static_cast<std::vector<std::string>*>(data)->push_back(name);
    return 0;
  };
  hsize_t idx = 0;
  check_status(H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, cb, &names),
               "listing attributes");
  return names;
}

// ---- datasets -----------------------------------------------------------------------------------

void write_f32_dataset(hid_t parent, const std::string& name, const Shape& shape,
                       const std::vector<float>& values) {
  const std::string what = "dataset " + name;
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  Handle space = space_handle(
      dims.empty() ? H5Screate(H5S_SCALAR)
                   : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
      "creating the dataspace of " + what);
  Handle dcpl = plist_handle(H5Pcreate(H5P_DATASET_CREATE), "creating a dataset property list");
  bool chunked =
      !dims.empty() && std::all_of(dims.begin(), dims.end(), [](hsize_t d) { return d > 0; });
  if (chunked) {
    // One chunk per <= 16 MiB slab: HDF5 caps chunks at 4 GiB, and checksums are per chunk.
    std::vector<hsize_t> chunk = dims;
    size_t bytes = sizeof(float);
    for (hsize_t d : chunk) bytes *= d;
    for (size_t i = 0; i < chunk.size() && bytes > kMaxChunkBytes; ++i) {
      size_t other = bytes / chunk[i];
      chunk[i] = std::max<hsize_t>(1, kMaxChunkBytes / other);
      bytes = other * chunk[i];
    }
    check_status(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()),
                 "setting the chunking of " + what);
    check_status(H5Pset_fletcher32(dcpl.get()), "enabling the checksum of " + what);
  }
  Handle ds = dataset_handle(H5Dcreate2(parent, name.c_str(), H5T_IEEE_F32LE, space.get(),
                                        H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                             "creating " + what);
  if (!values.empty())
    check_status(H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()),
                 "writing " + what);
  ds.close("closing " + what);
}

void read_f32_dataset(hid_t parent, const std::string& name, Shape& shape,
                      std::vector<float>& values) {
  const std::string what = "dataset " + name;
  Handle ds = dataset_handle(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), "opening " + what);
  Handle type = type_handle(H5Dget_type(ds.get()), "reading the type of " + what);
  H5T_class_t cls = H5Tget_class(type.get());
  size_t size = H5Tget_size(type.get());
  if (cls != H5T_FLOAT || size != sizeof(float))
    throw Hdf5Failure(what + " is " + class_name(cls) + " of " + std::to_string(size) +
                      " bytes, expected 32-bit floats");
  Handle space = space_handle(H5Dget_space(ds.get()), "reading the shape of " + what);
  H5S_class_t sclass = H5Sget_simple_extent_type(space.get());
  shape.clear();
  if (sclass == H5S_SIMPLE) {
    int rank = H5Sget_simple_extent_ndims(space.get());
    std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 0)));
    check_id(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr),
             "reading the dimensions of " + what);
    shape.assign(dims.begin(), dims.end());
  } else if (sclass != H5S_SCALAR) {
    throw Hdf5Failure(what + " has no dataspace (empty), expected an array of floats");
  }
  int64_t n = shape_numel(shape);
  values.assign(static_cast<size_t>(n), 0.0f);
  if (n == 0) return;
  // A dataset whose storage was never written reads back as fill values: refuse it.
  if (!fully_stored(ds.get(), shape, what))
    throw Hdf5Failure(what + " has no (or only part of its) stored data");
  check_status(H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()),
               "reading " + what);
}

namespace {

void write_scalar(hid_t parent, const std::string& name, hid_t file_type, hid_t mem_type,
                  const void* v) {
  Handle space = space_handle(H5Screate(H5S_SCALAR), "creating a scalar dataspace");
  Handle ds = dataset_handle(H5Dcreate2(parent, name.c_str(), file_type, space.get(), H5P_DEFAULT,
                                        H5P_DEFAULT, H5P_DEFAULT),
                             "creating dataset " + name);
  check_status(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v),
               "writing dataset " + name);
}

void read_scalar(hid_t parent, const std::string& name, H5T_class_t want, const char* want_text,
                 hid_t mem_type, void* v) {
  if (!link_exists(parent, name)) throw Hdf5Failure("dataset " + name + " is missing");
  Handle ds =
      dataset_handle(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), "opening dataset " + name);
  Handle type = type_handle(H5Dget_type(ds.get()), "reading the type of dataset " + name);
  H5T_class_t cls = H5Tget_class(type.get());
  if (cls != want)
    throw Hdf5Failure("dataset " + name + " is " + class_name(cls) + ", expected " + want_text);
  Handle space = space_handle(H5Dget_space(ds.get()), "reading the shape of dataset " + name);
  if (H5Sget_simple_extent_npoints(space.get()) != 1)
    throw Hdf5Failure("dataset " + name + " holds several values, expected one");
  check_status(H5Dread(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v),
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
  read_scalar(parent, name, H5T_FLOAT, "a float", H5T_NATIVE_DOUBLE, &v);
  return v;
}

int64_t read_scalar_i64(hid_t parent, const std::string& name) {
  int64_t v = 0;
  read_scalar(parent, name, H5T_INTEGER, "an integer", H5T_NATIVE_INT64, &v);
  return v;
}

}  // namespace mp::h5
