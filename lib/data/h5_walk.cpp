// h5_walk.cpp: recursive walk over an HDF5 file and the checked dataset open.
#include "data/h5_walk.h"

#include <set>
#include <utility>

#include "core/error.h"

namespace mp {

namespace {

using Visit = std::function<void(const std::string&, hid_t)>;

struct WalkState {
  const Visit* visit;
  std::set<std::pair<unsigned long, haddr_t>> seen;  // (file number, object address)
};

struct GroupCtx {
  WalkState* st;
  std::string path;
};

void walk_object(hid_t obj, const std::string& path, WalkState& st);

herr_t on_link(hid_t group, const char* name, const H5L_info_t*, void* data) {
  auto& ctx = *static_cast<GroupCtx*>(data);
  const std::string path = (ctx.path == "/" ? "/" : ctx.path + "/") + name;
  H5Handle obj(H5Oopen(group, name, H5P_DEFAULT));
  if (!obj.valid()) {
    (*ctx.st->visit)(path, H5I_INVALID_HID);
    return 0;
  }
  walk_object(obj.get(), path, *ctx.st);
  return 0;
}

void walk_object(hid_t obj, const std::string& path, WalkState& st) {
  H5O_info_t info;
  if (H5Oget_info2(obj, &info, H5O_INFO_BASIC) >= 0) {
    if (!st.seen.insert({info.fileno, info.addr}).second) return;  // hard link seen before
  }
  (*st.visit)(path, obj);
  if (H5Iget_type(obj) != H5I_GROUP) return;
  GroupCtx ctx{&st, path};
  hsize_t idx = 0;
  H5Literate(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, on_link, &ctx);
}

}  // namespace

void h5_walk(hid_t file, const Visit& visit) {
  h5_silence_errors();
  WalkState st{&visit, {}};
  H5Handle root(H5Gopen2(file, "/", H5P_DEFAULT));
  MP_CHECK(root.valid(), "cannot open the root group of an open HDF5 file");
  walk_object(root.get(), "/", st);
}

std::vector<std::string> h5_dataset_paths(hid_t file) {
  std::vector<std::string> out;
  h5_walk(file, [&](const std::string& path, hid_t obj) {
    if (obj >= 0 && H5Iget_type(obj) == H5I_DATASET) out.push_back(path);
  });
  return out;
}

namespace {
std::string dataset_list(hid_t file) {
  const auto paths = h5_dataset_paths(file);
  if (paths.empty()) return "the file has no datasets";
  std::string s = "the file has: ";
  for (size_t i = 0; i < paths.size(); ++i) s += (i ? ", " : "") + paths[i];
  return s;
}
}  // namespace

H5Handle h5_open_dataset(hid_t file, const std::string& file_name, const std::string& path,
                         hid_t dapl) {
  h5_silence_errors();
  const std::string what = file_name + ": dataset " + path + ": ";
  const std::string fix = "; set the data path in the run spec (data.train.x, ...) to one of them";
  if (path.empty() || path[0] != '/')
    throw DataError(what + "expected an absolute path starting with '/' (" + dataset_list(file) + ")" + fix);
  // Walk the path one component at a time: H5Lexists fails on a missing intermediate group.
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    const std::string prefix = path.substr(0, end);
    if (end > pos && H5Lexists(file, prefix.c_str(), H5P_DEFAULT) <= 0) {
      throw DataError(what + "not found (no object " + prefix + "); " + dataset_list(file) + fix);
    }
    pos = end + 1;
  }
  H5Handle obj(H5Oopen(file, path.c_str(), H5P_DEFAULT));
  if (!obj.valid())
    throw DataError(what + "cannot be opened (HDF5: " + h5_last_error() + "); " + dataset_list(file) + fix);
  if (H5Iget_type(obj.get()) != H5I_DATASET)
    throw DataError(what + "expected a dataset, found a group; " + dataset_list(file) + fix);
  if (dapl == H5P_DEFAULT) return obj;
  // Close first: a second open of an open dataset shares its state, chunk cache settings included.
  obj.reset();
  H5Handle ds(H5Dopen2(file, path.c_str(), dapl));
  if (!ds.valid()) throw DataError(what + "cannot be opened (HDF5: " + h5_last_error() + ")");
  return ds;
}

}  // namespace mp
