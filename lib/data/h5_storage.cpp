// h5_storage.cpp: filter availability (H5Zfilter_avail) and written extent (H5Dget_num_chunks,
// H5Dget_space_status) of a dataset.
#include "data/h5_storage.h"

#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "data/h5_handle.h"

namespace mp {

namespace {

// Registered HDF5 filter ids (https://portal.hdfgroup.org/display/support/Filters) that data
// files are likely to carry, for files that do not store the filter's name.
struct KnownFilter {
  H5Z_filter_t id;
  const char* name;
  bool compression;
};
constexpr KnownFilter kKnown[] = {
    {H5Z_FILTER_DEFLATE, "gzip", true},  {H5Z_FILTER_SHUFFLE, "shuffle", false},
    {H5Z_FILTER_FLETCHER32, "fletcher32", false}, {H5Z_FILTER_SZIP, "szip", true},
    {H5Z_FILTER_NBIT, "nbit", false},    {H5Z_FILTER_SCALEOFFSET, "scaleoffset", false},
    {307, "bzip2", true},                {32000, "lzf", true},
    {32001, "blosc", true},              {32004, "lz4", true},
    {32008, "bitshuffle", true},         {32013, "zfp", true},
    {32015, "zstd", true},               {32026, "blosc2", true},
};

const KnownFilter* known(H5Z_filter_t id) {
  for (const auto& k : kKnown)
    if (k.id == id) return &k;
  return nullptr;
}

Shape dims_of(hid_t ds) {
  H5Handle space(H5Dget_space(ds));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> d(static_cast<size_t>(rank > 0 ? rank : 0));
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), d.data(), nullptr);
  return Shape(d.begin(), d.end());
}

void check_filters(hid_t dcpl, const std::string& what) {
  for (const H5Filter& f : h5_filters(dcpl))
    if (!f.available && !f.optional) throw DataError(what + h5_missing_filter_message(h5_filter_label(f)));
}

// Chunked: every chunk the declared shape spans must exist in the file. An unwritten chunk reads
// back as the fill value, so a dataset created far larger than the data put in it (a resizable
// dataset never shrunk, a preallocated shape) would train on rows of zeros.
void check_chunks_written(hid_t ds, hid_t dcpl, const std::string& what) {
  const Shape dims = dims_of(ds);
  const int rank = H5Pget_chunk(dcpl, 0, nullptr);
  if (rank <= 0 || static_cast<size_t>(rank) != dims.size()) return;
  std::vector<hsize_t> chunk(static_cast<size_t>(rank));
  H5Pget_chunk(dcpl, rank, chunk.data());
  hsize_t total = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == 0 || chunk[i] == 0) return;  // empty: the split checks report it
    total *= (static_cast<hsize_t>(dims[i]) + chunk[i] - 1) / chunk[i];
  }
  H5Handle space(H5Dget_space(ds));
  hsize_t written = 0;
  if (H5Dget_num_chunks(ds, space.get(), &written) < 0) {
    throw DataError(what + "cannot read its chunk index (HDF5: " + h5_last_error() +
                    "); the file may be truncated or corrupt");
  }
  if (written >= total) return;
  throw DataError(what + "declares shape " + shape_str(dims) + " (chunks " +
                  shape_str(Shape(chunk.begin(), chunk.end())) + ") but holds data in only " +
                  std::to_string(written) + " of the " + std::to_string(total) +
                  " chunks that shape spans: the rest would read as the fill value, not data. "
                  "The dataset was probably created larger than the data put in it; write the "
                  "missing rows, or shrink it to the rows written (h5py: create it with "
                  "maxshape=(None, ...) and call ds.resize(rows_written, axis=0))");
}

}  // namespace

std::vector<H5Filter> h5_filters(hid_t dcpl) {
  std::vector<H5Filter> out;
  const int n = H5Pget_nfilters(dcpl);
  for (int i = 0; i < n; ++i) {
    unsigned flags = 0, cd[8] = {0};
    size_t ncd = 8;
    char name[64] = "";
    H5Filter f;
    f.id = H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &ncd, cd, sizeof name, name,
                          nullptr);
    f.name = name;
    if (const KnownFilter* k = known(f.id); k && (f.name.empty() || f.id == H5Z_FILTER_DEFLATE))
      f.name = k->name;  // HDF5 stores gzip as "deflate"; h5py users know it as gzip
    f.level = ncd > 0 ? cd[0] : 0;
    f.optional = (flags & H5Z_FLAG_OPTIONAL) != 0;
    f.available = H5Zfilter_avail(f.id) > 0;
    out.push_back(std::move(f));
  }
  return out;
}

std::string h5_filter_label(const H5Filter& f) {
  const std::string id = "(id " + std::to_string(f.id) + ")";
  if (f.name.empty()) return "filter " + id;
  const KnownFilter* k = known(f.id);
  return "the " + f.name + (k && k->compression ? " compression filter " : " filter ") + id;
}

std::string h5_missing_filter_message(const std::string& label) {
  return "uses " + label + ", which this HDF5 build lacks, so its data cannot be read; rewrite "
         "the file with gzip (h5py: create_dataset(..., compression=\"gzip\")) or without "
         "compression, or install the filter's HDF5 plugin and set HDF5_PLUGIN_PATH to its folder";
}

std::string h5_missing_optional_filter(hid_t ds) {
  h5_silence_errors();
  H5Handle dcpl(H5Dget_create_plist(ds));
  if (!dcpl.valid()) return "";
  for (const H5Filter& f : h5_filters(dcpl.get()))
    if (!f.available) return h5_filter_label(f);
  return "";
}

void h5_check_storage(hid_t ds, const std::string& what) {
  h5_silence_errors();
  H5Handle dcpl(H5Dget_create_plist(ds));
  if (!dcpl.valid()) return;  // nothing to check against; a read reports what is wrong
  check_filters(dcpl.get(), what);
  switch (H5Pget_layout(dcpl.get())) {
    case H5D_CHUNKED:
      check_chunks_written(ds, dcpl.get(), what);
      return;
    case H5D_CONTIGUOUS: {
      // Allocated at the first write (HDF5's default for contiguous data): none means no data.
      H5D_space_status_t st{};
      if (H5Dget_space_status(ds, &st) >= 0 && st == H5D_SPACE_STATUS_NOT_ALLOCATED &&
          shape_numel(dims_of(ds)) > 0) {
        throw DataError(what + "declares shape " + shape_str(dims_of(ds)) +
                        " but its data was never written: every sample would read as the fill "
                        "value; write the data into it (h5py: ds[...] = x)");
      }
      return;
    }
    default:
      return;
  }
}

}  // namespace mp
