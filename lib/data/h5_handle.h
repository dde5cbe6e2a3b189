// h5_handle.h: the one HDF5 layer under data files and checkpoints: RAII ownership of HDF5
// identifiers (hid_t), the switch that silences HDF5's own error printing, HDF5's error stack as
// text, checked calls, and the checked open of a data file. Nothing here prints to the terminal.
// Attributes: h5_attr.h; datasets for data files: h5_write.h, h5_array.h.
#pragma once
#include <hdf5.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

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
  // Releases now and throws H5Failure when that fails (closing a file flushes it: a writer must
  // know).
  void close(const std::string& what);

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// Turns off HDF5's automatic error-stack printing for the calling thread (the library is built
// thread-safe, so the setting is per thread). Idempotent and cheap; every entry point calls it.
void h5_silence_errors();

// The innermost message on the calling thread's HDF5 error stack ("" when empty), for appending
// "(HDF5: ...)" to a DataError.
std::string h5_last_error();

// The calling thread's HDF5 error stack as one line: the outermost failure, then the root cause
// ("... (cause: ...)"), or "HDF5 gave no detail"; clears the stack so the next failure starts
// fresh.
std::string h5_error_text();

// A failed HDF5 call: "what we tried: what HDF5 said" (h5_error_text). The caller turns it into a
// DataError naming the file.
class H5Failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Checked calls: H5Failure(what + ": " + h5_error_text()) when the id or status is negative.
H5Handle h5_check(hid_t id, const std::string& what);
void h5_check_status(herr_t status, const std::string& what);

// An iteration callback (H5Literate: Info = H5L_info_t, H5Aiterate2: H5A_info_t) that appends
// each member's name to the std::vector<std::string> passed as its data.
template <class Info>
herr_t h5_append_name(hid_t, const char* name, const Info*, void* names) {
  static_cast<std::vector<std::string>*>(names)->push_back(name);
  return 0;
}

// Opens an existing HDF5 file read-only. DataError when the path does not exist, is a directory,
// is not an HDF5 file, or cannot be opened.
H5Handle h5_open_read(const std::string& path);

// Creates (truncating) an HDF5 file for writing. DataError when it cannot be created.
H5Handle h5_create(const std::string& path);

}  // namespace mp
