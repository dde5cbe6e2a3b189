// h5_attr.cpp: scalar attribute writers and checked readers.
#include "data/h5_attr.h"

#include <cstring>

#include "data/h5_handle.h"

namespace mp {

const char* h5_class_phrase(H5T_class_t c) {
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

void h5_check_scalar(hid_t type, hid_t space, H5T_class_t want, const std::string& what) {
  const H5T_class_t cls = H5Tget_class(type);
  if (cls != want)
    throw H5Failure(what + " is " + h5_class_phrase(cls) + ", expected " + h5_class_phrase(want));
  if (H5Sget_simple_extent_npoints(space) != 1)
    throw H5Failure(what + " holds several values, expected one");
}

namespace {

void write_attr(hid_t obj, const std::string& name, hid_t file_type, hid_t mem_type,
                const void* value) {
  h5_silence_errors();
  if (h5_attr_exists(obj, name))
    h5_check_status(H5Adelete(obj, name.c_str()), "replacing attribute " + name);
  H5Handle space = h5_check(H5Screate(H5S_SCALAR), "creating a scalar dataspace");
  H5Handle attr =
      h5_check(H5Acreate2(obj, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT),
               "creating attribute " + name);
  h5_check_status(H5Awrite(attr.get(), mem_type, value), "writing attribute " + name);
}

// Opens a scalar attribute of the expected type class.
H5Handle open_scalar_attr(hid_t obj, const std::string& name, H5T_class_t want) {
  if (!h5_attr_exists(obj, name)) throw H5Failure("attribute '" + name + "' is missing");
  H5Handle attr = h5_check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "opening attribute " + name);
  H5Handle type = h5_check(H5Aget_type(attr.get()), "reading the type of attribute " + name);
  H5Handle space = h5_check(H5Aget_space(attr.get()), "reading the shape of attribute " + name);
  h5_check_scalar(type.get(), space.get(), want, "attribute '" + name + "'");
  return attr;
}

H5Handle utf8_string_type(H5T_cset_t cset) {
  H5Handle type = h5_check(H5Tcopy(H5T_C_S1), "creating a string type");
  h5_check_status(H5Tset_size(type.get(), H5T_VARIABLE), "making a variable-length string type");
  h5_check_status(H5Tset_cset(type.get(), cset), "setting the charset of a string type");
  return type;
}

}  // namespace

void h5_write_attr_i64(hid_t obj, const std::string& name, int64_t v) {
  write_attr(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

void h5_write_attr_u64(hid_t obj, const std::string& name, uint64_t v) {
  write_attr(obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
}

void h5_write_attr_f64(hid_t obj, const std::string& name, double v) {
  write_attr(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

void h5_write_attr_str(hid_t obj, const std::string& name, const std::string& v) {
  const H5Handle type = utf8_string_type(H5T_CSET_UTF8);
  const char* p = v.c_str();
  write_attr(obj, name, type.get(), type.get(), &p);
}

bool h5_attr_exists(hid_t obj, const std::string& name) {
  h5_silence_errors();
  const htri_t r = H5Aexists(obj, name.c_str());
  h5_check_status(r < 0 ? -1 : 0, "looking up attribute " + name);
  return r > 0;
}

int64_t h5_read_attr_i64(hid_t obj, const std::string& name) {
  H5Handle attr = open_scalar_attr(obj, name, H5T_INTEGER);
  int64_t v = 0;
  h5_check_status(H5Aread(attr.get(), H5T_NATIVE_INT64, &v), "reading attribute " + name);
  return v;
}

uint64_t h5_read_attr_u64(hid_t obj, const std::string& name) {
  H5Handle attr = open_scalar_attr(obj, name, H5T_INTEGER);
  uint64_t v = 0;
  h5_check_status(H5Aread(attr.get(), H5T_NATIVE_UINT64, &v), "reading attribute " + name);
  return v;
}

std::string h5_read_attr_str(hid_t obj, const std::string& name) {
  H5Handle attr = open_scalar_attr(obj, name, H5T_STRING);
  H5Handle ftype = h5_check(H5Aget_type(attr.get()), "reading the type of attribute " + name);
  const htri_t variable = H5Tis_variable_str(ftype.get());
  h5_check_status(variable < 0 ? -1 : 0, "reading the type of attribute " + name);
  if (variable > 0) {
    const H5Handle mtype = utf8_string_type(H5Tget_cset(ftype.get()));
    char* p = nullptr;
    h5_check_status(H5Aread(attr.get(), mtype.get(), &p), "reading attribute " + name);
    std::string s = p ? p : "";
    H5free_memory(p);
    return s;
  }
  std::string s(H5Tget_size(ftype.get()), '\0');
  h5_check_status(H5Aread(attr.get(), ftype.get(), s.data()), "reading attribute " + name);
  s.resize(std::strlen(s.c_str()));  // fixed-length strings are NUL-padded
  return s;
}

H5T_class_t h5_attr_class(hid_t obj, const std::string& name) {
  H5Handle attr = h5_check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "opening attribute " + name);
  H5Handle type = h5_check(H5Aget_type(attr.get()), "reading the type of attribute " + name);
  return H5Tget_class(type.get());
}

std::vector<std::string> h5_attr_names(hid_t obj) {
  std::vector<std::string> names;
  hsize_t idx = 0;
  h5_check_status(
      H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, h5_append_name<H5A_info_t>, &names),
      "listing attributes");
  return names;
}

}  // namespace mp
