// h5_handle.cpp: H5Handle release, error silencing, checked file open/create.
#include "data/h5_handle.h"

#include <filesystem>
#include <system_error>

#include "core/error.h"

namespace mp {

void H5Handle::reset() {
  if (id_ >= 0) {
    h5_silence_errors();
    H5Idec_ref(id_);
  }
  id_ = H5I_INVALID_HID;
}

void h5_silence_errors() {
  thread_local bool silenced = false;
  if (!silenced) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    silenced = true;
  }
}

namespace {
herr_t keep_innermost(unsigned n, const H5E_error2_t* err, void* out) {
  if (n == 0 && err->desc) *static_cast<std::string*>(out) = err->desc;
  return 0;
}
}  // namespace

std::string h5_last_error() {
  std::string msg;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_innermost, &msg);
  return msg;
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
