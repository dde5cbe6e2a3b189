// describe_h5.cpp: a readable listing of an HDF5 file's objects and attributes.
#include "data/describe_h5.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <vector>

#include "core/tensor.h"
#include "data/h5_handle.h"
#include "data/h5_storage.h"
#include "data/h5_types.h"
#include "data/h5_walk.h"

namespace mp {

namespace {

constexpr size_t kMaxListed = 8;         // array attribute values shown before "..."
constexpr size_t kMaxStringChars = 4000; // longer string attributes are cut

template <class T> T load_as(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

std::string fmt_double(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

Shape space_shape(hid_t space) {
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(static_cast<size_t>(rank > 0 ? rank : 0));
  if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return Shape(dims.begin(), dims.end());
}

std::string quote(const std::string& s) {
  std::string cut = s.size() > kMaxStringChars ? s.substr(0, kMaxStringChars) : s;
  std::string out = "\"";
  for (char c : cut) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  if (s.size() > kMaxStringChars) out += " ... (" + std::to_string(s.size()) + " chars)";
  return out;
}

// A multi-line string is printed as an indented block under its name.
std::string string_value(const std::string& s, const std::string& indent) {
  if (s.find('\n') == std::string::npos) return quote(s);
  std::string out = "|";
  std::istringstream in(s.size() > kMaxStringChars ? s.substr(0, kMaxStringChars) : s);
  std::string line;
  while (std::getline(in, line)) out += "\n" + indent + "  " + line;
  if (s.size() > kMaxStringChars) out += "\n" + indent + "  ... (" + std::to_string(s.size()) + " chars)";
  return out;
}

std::vector<std::string> read_strings(hid_t attr, hid_t ftype, size_t n) {
  std::vector<std::string> out;
  H5Handle mtype(H5Tcopy(H5T_C_S1));
  if (H5Tis_variable_str(ftype) > 0) {
    H5Tset_size(mtype.get(), H5T_VARIABLE);
    H5Tset_cset(mtype.get(), H5Tget_cset(ftype));
    std::vector<char*> ptrs(n, nullptr);
    if (H5Aread(attr, mtype.get(), ptrs.data()) >= 0) {
      for (char* p : ptrs) out.emplace_back(p ? p : "");
      H5Handle space(H5Aget_space(attr));
      H5Dvlen_reclaim(mtype.get(), space.get(), H5P_DEFAULT, ptrs.data());
    }
  } else {
    const size_t len = H5Tget_size(ftype);
    H5Tset_size(mtype.get(), len);
    H5Tset_cset(mtype.get(), H5Tget_cset(ftype));
    H5Tset_strpad(mtype.get(), H5T_STR_NULLPAD);
    std::vector<char> buf(len * n + 1, '\0');
    if (H5Aread(attr, mtype.get(), buf.data()) >= 0) {
      for (size_t i = 0; i < n; ++i) {
        const char* p = buf.data() + i * len;
        size_t l = 0;
        while (l < len && p[l] != '\0') ++l;
        out.emplace_back(p, l);
      }
    }
  }
  return out;
}

std::string attr_value(hid_t attr, const std::string& indent) {
  H5Handle ftype(H5Aget_type(attr));
  H5Handle space(H5Aget_space(attr));
  const Shape shape = space_shape(space.get());
  const auto n = static_cast<size_t>(H5Sget_simple_extent_npoints(space.get()));
  const bool scalar = shape.empty();
  const H5T_class_t cls = H5Tget_class(ftype.get());
  std::vector<std::string> vals;
  std::string type_name = describe_h5_type(ftype.get());
  if (cls == H5T_STRING) {
    for (const auto& s : read_strings(attr, ftype.get(), n)) vals.push_back(string_value(s, indent));
  } else if (cls == H5T_ENUM) {  // h5py stores bools this way: print the member names
    H5Handle mtype(H5Tget_native_type(ftype.get(), H5T_DIR_ASCEND));
    const size_t sz = H5Tget_size(mtype.get());
    std::vector<unsigned char> buf(n * sz);
    if (H5Aread(attr, mtype.get(), buf.data()) < 0) return "<unreadable: " + h5_last_error() + ">";
    type_name = "enum";
    for (size_t i = 0; i < n && i < kMaxListed; ++i) {
      char name[64] = "?";
      H5Tenum_nameof(mtype.get(), buf.data() + i * sz, name, sizeof name);
      vals.push_back(name);
    }
  } else if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
    const bool is_int = cls == H5T_INTEGER;
    const bool is_unsigned = is_int && H5Tget_sign(ftype.get()) == H5T_SGN_NONE;
    std::vector<unsigned char> buf(n * 8);
    const hid_t mtype = is_int ? (is_unsigned ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT64) : H5T_NATIVE_DOUBLE;
    if (H5Aread(attr, mtype, buf.data()) < 0) return "<unreadable: " + h5_last_error() + ">";
    for (size_t i = 0; i < n && i < kMaxListed; ++i) {
      const unsigned char* p = buf.data() + 8 * i;
      if (!is_int) vals.push_back(fmt_double(load_as<double>(p)));
      else if (is_unsigned) vals.push_back(std::to_string(load_as<uint64_t>(p)));
      else vals.push_back(std::to_string(load_as<int64_t>(p)));
    }
  } else {
    return "<" + type_name + " " + shape_str(shape) + ">";
  }
  if (scalar && vals.size() == 1) return vals[0];
  std::string out = type_name + " " + shape_str(shape) + " [";
  for (size_t i = 0; i < vals.size() && i < kMaxListed; ++i) out += (i ? ", " : "") + vals[i];
  if (n > kMaxListed) out += ", ...";
  return out + "]";
}

herr_t on_attr(hid_t loc, const char* name, const H5A_info_t*, void* data) {
  auto& out = *static_cast<std::ostringstream*>(data);
  H5Handle a(H5Aopen(loc, name, H5P_DEFAULT));
  out << "    @" << name << " = " << (a.valid() ? attr_value(a.get(), "    ") : "<unreadable>") << "\n";
  return 0;
}

std::string dataset_line(hid_t ds) {
  H5Handle type(H5Dget_type(ds));
  H5Handle space(H5Dget_space(ds));
  std::string s = describe_h5_type(type.get()) + " " + shape_str(space_shape(space.get()));
  H5Handle dcpl(H5Dget_create_plist(ds));
  if (H5Pget_layout(dcpl.get()) == H5D_CHUNKED) {
    const int rank = H5Pget_chunk(dcpl.get(), 0, nullptr);
    std::vector<hsize_t> chunk(static_cast<size_t>(rank > 0 ? rank : 0));
    if (rank > 0) H5Pget_chunk(dcpl.get(), rank, chunk.data());
    s += "  chunks " + shape_str(Shape(chunk.begin(), chunk.end()));
  }
  for (const H5Filter& f : h5_filters(dcpl.get())) {
    s += "  " + (f.id == H5Z_FILTER_DEFLATE ? "gzip " + std::to_string(f.level)
                 : f.name.empty()            ? "filter " + std::to_string(f.id)
                                             : f.name);
    if (!f.available) s += " (not available in this HDF5 build)";
  }
  return s;
}

}  // namespace

std::string describe_h5(const std::string& path) {
  H5Handle file = h5_open_read(path);
  std::ostringstream out;
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);
  out << path << "  (HDF5";
  if (!ec) out << ", " << bytes << " bytes";
  out << ")\n";
  h5_walk(file.get(), [&](const std::string& p, hid_t obj) {
    if (obj < 0) {
      out << p << "  <unresolvable link>\n";
      return;
    }
    const H5I_type_t t = H5Iget_type(obj);
    out << p << "  ";
    if (t == H5I_DATASET) out << dataset_line(obj) << "\n";
    else if (t == H5I_GROUP) out << "group\n";
    else out << "<named type>\n";
    hsize_t idx = 0;
    H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, on_attr, &out);
  });
  return out.str();
}

}  // namespace mp
