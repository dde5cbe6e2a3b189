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

namespace {

// "the file has: /train/x, /train/y, /val/x (cannot be opened)": every dataset, and every object
// the walk could not open (a dangling link, a damaged header), since the one the run names may
// be among them.
std::string dataset_list(hid_t file) {
  std::vector<std::string> items;
  h5_walk(file, [&](const std::string& path, hid_t obj) {
    if (obj < 0) items.push_back(path + " (cannot be opened)");
    else if (H5Iget_type(obj) == H5I_DATASET) items.push_back(path);
  });
  if (items.empty()) return "the file has no datasets";
  std::string s = "the file has: ";
  for (size_t i = 0; i < items.size(); ++i) s += (i ? ", " : "") + items[i];
  return s;
}

// What the link at `path` points to, when it is a soft or external link: ": it is a soft link to
// /nowhere/x" (HDF5's own reason for a dangling link is only "component not found"); else "".
std::string link_target(hid_t file, const std::string& path) {
  H5L_info_t info;
  if (H5Lget_info(file, path.c_str(), &info, H5P_DEFAULT) < 0) return "";
  if (info.type != H5L_TYPE_SOFT && info.type != H5L_TYPE_EXTERNAL) return "";
  std::vector<char> val(info.u.val_size + 1, '\0');
  if (H5Lget_val(file, path.c_str(), val.data(), val.size(), H5P_DEFAULT) < 0) return "";
  if (info.type == H5L_TYPE_SOFT) return ": it is a soft link to " + std::string(val.data());
  const char* ext_file = nullptr;
  const char* ext_path = nullptr;
  if (H5Lunpack_elink_val(val.data(), val.size(), nullptr, &ext_file, &ext_path) < 0) return "";
  return ": it is an external link to " + std::string(ext_path ? ext_path : "?") + " in the file " +
         std::string(ext_file ? ext_file : "?");
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
  if (!obj.valid()) {
    const std::string why = h5_last_error();  // before any other HDF5 call clears the stack
    const std::string link = link_target(file, path);
    throw DataError(what + "cannot be opened" + link + " (HDF5: " + why + "); " +
                    (link.empty() ? "the file may be damaged (write it again); "
                                  : "point the link at an existing dataset; ") +
                    dataset_list(file) + fix);
  }
  if (H5Iget_type(obj.get()) != H5I_DATASET)
    throw DataError(what + "expected a dataset, found a group; " + dataset_list(file) + fix);
  if (dapl == H5P_DEFAULT) return obj;
  // Close first: a second open of an open dataset shares its state, chunk cache settings included.
  obj.reset();
  H5Handle ds(H5Dopen2(file, path.c_str(), dapl));
  if (!ds.valid()) {
    const std::string why = h5_last_error();
    throw DataError(what + "cannot be opened (HDF5: " + why + ")");
  }
  return ds;
}

}  // namespace mp
