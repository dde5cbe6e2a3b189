// checkpoint_hdf5.h: the small slice of the HDF5 C API the checkpoint writer and reader use,
// wrapped in RAII handles. HDF5's own error printing is silenced while a Hdf5Quiet guard lives, and
// every failed call throws Hdf5Failure carrying the call's purpose plus HDF5's innermost error
// text; the callers turn that into a DataError naming the file. Internal to lib/train.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/tensor.h"  // Shape

namespace mp::h5 {

// A failed HDF5 call: "what we tried: what HDF5 said".
class Hdf5Failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Turns off HDF5's automatic error-stack printing on this thread for the guard's lifetime.
class Hdf5Quiet {
 public:
  Hdf5Quiet();
  ~Hdf5Quiet();
  Hdf5Quiet(const Hdf5Quiet&) = delete;
  Hdf5Quiet& operator=(const Hdf5Quiet&) = delete;

 private:
  H5E_auto2_t old_func_ = nullptr;
  void* old_data_ = nullptr;
};

// Owns one hid_t and closes it with the matching H5?close function.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  // Closes now and reports failure (H5Fclose flushes: its status matters for the writer).
  void close(const std::string& what);
  void reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// Throws Hdf5Failure(what + HDF5's error text) when id/status is negative.
hid_t check_id(hid_t id, const std::string& what);
void check_status(herr_t status, const std::string& what);

// Handle constructors: each checks the id.
Handle file_handle(hid_t id, const std::string& what);
Handle group_handle(hid_t id, const std::string& what);
Handle dataset_handle(hid_t id, const std::string& what);
Handle attribute_handle(hid_t id, const std::string& what);
Handle space_handle(hid_t id, const std::string& what);
Handle type_handle(hid_t id, const std::string& what);
Handle plist_handle(hid_t id, const std::string& what);

// File access properties for checkpoints: no HDF5 file locking (files appear by rename only, so
// nobody reads a file being written, and locking fails on some network file systems); for writing,
// the v1.8+ format (link creation order, large attributes, metadata checksums).
Handle checkpoint_file_access(bool for_writing);

// A group whose links remember creation order (so params read back in model order).
Handle create_ordered_group(hid_t parent, const std::string& name);
Handle open_group(hid_t parent, const std::string& name);
bool link_exists(hid_t parent, const std::string& name);
// Names of the links in `group`, in creation order when tracked, else by name.
std::vector<std::string> link_names(hid_t group);

// Attributes on an object (the root group or any group).
void write_attr_i64(hid_t obj, const std::string& name, int64_t v);
void write_attr_u64(hid_t obj, const std::string& name, uint64_t v);
void write_attr_str(hid_t obj, const std::string& name, const std::string& v);
bool attr_exists(hid_t obj, const std::string& name);
int64_t read_attr_i64(hid_t obj, const std::string& name);
uint64_t read_attr_u64(hid_t obj, const std::string& name);
std::string read_attr_str(hid_t obj, const std::string& name);
H5T_class_t attr_type_class(hid_t obj, const std::string& name);
std::vector<std::string> attr_names(hid_t obj);

// Datasets. Float tensors are stored chunked with a Fletcher-32 checksum, so silent corruption of
// the values is caught on read, not just truncation.
void write_f32_dataset(hid_t parent, const std::string& name, const Shape& shape,
                       const std::vector<float>& values);
void read_f32_dataset(hid_t parent, const std::string& name, Shape& shape,
                      std::vector<float>& values);
void write_scalar_f64(hid_t parent, const std::string& name, double v);
void write_scalar_i64(hid_t parent, const std::string& name, int64_t v);
double read_scalar_f64(hid_t parent, const std::string& name);
int64_t read_scalar_i64(hid_t parent, const std::string& name);

}  // namespace mp::h5
