// h5_handle.cpp: H5Handle release, error silencing and capture, checked calls, checked file
// open/create.
#include "data/h5_handle.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <vector>

#include "core/error.h"

namespace mp {

void H5Handle::reset() {
  if (id_ >= 0) {
    h5_silence_errors();
    H5Idec_ref(id_);
  }
  id_ = H5I_INVALID_HID;
}

void H5Handle::close(const std::string& what) {
  const hid_t id = std::exchange(id_, H5I_INVALID_HID);
  if (id >= 0) {
    h5_silence_errors();
    h5_check_status(H5Idec_ref(id) < 0 ? -1 : 0, what);
  }
}

void h5_silence_errors() {
  thread_local bool silenced = false;
  if (!silenced) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    silenced = true;
  }
}

namespace {

struct StackEntry {
  std::string desc;  // "" when HDF5 gave none
  std::string func;
};

herr_t collect_entry(unsigned, const H5E_error2_t* err, void* out) {
  static_cast<std::vector<StackEntry>*>(out)->push_back(
      {err->desc ? err->desc : "", err->func_name ? err->func_name : ""});
  return 0;
}

// The calling thread's error stack, outermost (the API call) first, innermost (the root cause)
// last.
std::vector<StackEntry> error_stack() {
  std::vector<StackEntry> stack;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_entry, &stack);
  return stack;
}

}  // namespace

std::string h5_last_error() {
  const std::vector<StackEntry> stack = error_stack();
  return stack.empty() ? "" : stack.back().desc;
}

std::string h5_error_text() {
  std::vector<std::string> msgs;
  for (const StackEntry& e : error_stack())
    msgs.push_back(!e.desc.empty() || e.func.empty() ? e.desc : "error in " + e.func);
  H5Eclear2(H5E_DEFAULT);
  msgs.erase(std::remove(msgs.begin(), msgs.end(), std::string()), msgs.end());
  if (msgs.empty()) return "HDF5 gave no detail";
  if (msgs.size() == 1) return msgs.front();
  return msgs.front() + " (cause: " + msgs.back() + ")";
}

H5Handle h5_check(hid_t id, const std::string& what) {
  if (id < 0) throw H5Failure(what + ": " + h5_error_text());
  return H5Handle(id);
}

void h5_check_status(herr_t status, const std::string& what) {
  if (status < 0) throw H5Failure(what + ": " + h5_error_text());
}

H5Handle h5_open_read(const std::string& path) {
  h5_silence_errors();
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) {
    throw DataError(path + ": data file not found (looked for " +
                    fs::absolute(path, ec).string() +
                    "); check data.file in the run spec, or create the file (MNIST: run "
                    "datasets/mnist/prepare.sh)");
  }
  if (fs::is_directory(st))
    throw DataError(path + ": expected an HDF5 file, found a directory; point data.file at a .h5 file");
  const htri_t is_h5 = H5Fis_hdf5(path.c_str());
  if (is_h5 == 0) {
    throw DataError(path + ": not an HDF5 file (no HDF5 signature found); data files must be HDF5 "
                    "(write one with h5py, see datasets/mnist/prepare.py)");
  }
  if (is_h5 < 0) {
    throw DataError(path + ": cannot read the file (" + h5_last_error() +
                    "); check that it is readable");
  }
  H5Handle f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!f.valid()) {
    throw DataError(path + ": cannot open the HDF5 file (HDF5: " + h5_last_error() +
                    "); the file may be truncated or still being written");
  }
  return f;
}

H5Handle h5_create(const std::string& path) {
  h5_silence_errors();
  H5Handle f(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  if (!f.valid()) {
    throw DataError(path + ": cannot create the HDF5 file (HDF5: " + h5_last_error() +
                    "); check that the folder exists and is writable");
  }
  return f;
}

}  // namespace mp
