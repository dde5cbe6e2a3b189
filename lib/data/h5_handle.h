// h5_handle.h: RAII ownership of HDF5 identifiers (hid_t), the switch that silences HDF5's own
// error printing, and the checked open of a data file. Every failure becomes an mp::DataError
// that names the file and says what to do; nothing here prints to the terminal.
#pragma once
#include <hdf5.h>

#include <string>
#include <utility>

namespace mp {

// Owns one HDF5 identifier of any kind (file, group, dataset, dataspace, type, attribute, property
// list) and releases it with H5Idec_ref. Move-only.
class H5Handle {
 public:
  H5Handle() = default;
  explicit H5Handle(hid_t id) : id_(id) {}
  ~H5Handle() { reset(); }
  H5Handle(H5Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)) {}
  H5Handle& operator=(H5Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// Turns off HDF5's automatic error-stack printing for the calling thread (the library is built
// thread-safe, so the setting is per thread). Idempotent and cheap; every entry point calls it.
void h5_silence_errors();

// The innermost message on the calling thread's HDF5 error stack ("" when empty), for appending
// "(HDF5: ...)" to a DataError.
std::string h5_last_error();

// Opens an existing HDF5 file read-only. DataError when the path does not exist, is a directory,
// is not an HDF5 file, or cannot be opened.
H5Handle h5_open_read(const std::string& path);

// Creates (truncating) an HDF5 file for writing. DataError when it cannot be created.
H5Handle h5_create(const std::string& path);

}  // namespace mp
