// data_damaged_files.cpp: HDF5 files damaged or stored in ways this build cannot read — dangling
// soft and external links, a corrupt object header, a compression filter this HDF5 lacks, rows
// declared but never written, a split too large to shuffle — each written here with the HDF5 C
// API and each ending in a DataError that carries HDF5's own reason or names the cause.
#include <doctest/doctest.h>

#include <fstream>

#include "data/data_loader.h"
#include "data/describe_h5.h"
#include "data/split.h"
#include "data_test_files.h"

using namespace mp;
using namespace mp::test;

namespace {

const SplitSpec& kTrain = kTrainSplit;

H5Handle create_with_y(const std::string& path, int64_t n) {
  H5Handle f = h5_create(path);
  std::vector<int32_t> y(static_cast<size_t>(n), 0);
  h5_write(f.get(), "/train/y", {n}, y.data());
  return f;
}

H5Handle intermediate_groups() {
  H5Handle lcpl(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  return lcpl;
}

// A chunked dataset of `dims` (rank 1 or 2), created empty: no chunk is written.
H5Handle create_chunked(hid_t f, const char* path, hid_t type, std::vector<hsize_t> dims,
                        std::vector<hsize_t> chunk, int gzip = 0) {
  H5Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  H5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data());
  if (gzip) H5Pset_deflate(dcpl.get(), static_cast<unsigned>(gzip));
  H5Handle ds(H5Dcreate2(f, path, type, space.get(), intermediate_groups().get(), dcpl.get(), H5P_DEFAULT));
  REQUIRE(ds.valid());
  return ds;
}

// Filters registered as lzf (id 32000) while the test writes a dataset that uses them, then
// unregistered: the file then needs a filter this HDF5 build lacks, as an h5py file written with
// compression="lzf" does. pass_through "compresses" every chunk; refuse fails on every chunk, so
// an optional filter is skipped and the chunks are stored as they are.
size_t pass_through(unsigned, size_t, const unsigned[], size_t nbytes, size_t*, void**) { return nbytes; }
size_t refuse(unsigned, size_t, const unsigned[], size_t, size_t*, void**) { return 0; }

constexpr H5Z_filter_t kLzf = 32000;

}  // namespace

TEST_CASE("a dangling soft link: HDF5's reason, the link's target, and the dataset listed") {
  TempDir d;
  const std::string p = d.file("soft.h5");
  {
    H5Handle f = create_with_y(p, 4);
    REQUIRE(H5Lcreate_soft("/nowhere/x", f.get(), "/train/x", H5P_DEFAULT, H5P_DEFAULT) >= 0);
  }
  const std::string msg = data_error_message([&] { Split s(p, kTrain, false); });
  check_has(msg, {"soft.h5", "dataset /train/x", "cannot be opened", "soft link to /nowhere/x",
                  "(HDF5: component not found)", "the file has: /train/x (cannot be opened), /train/y"});
  CHECK(msg.find("(HDF5: )") == std::string::npos);
}

TEST_CASE("an external link to a missing file") {
  TempDir d;
  const std::string p = d.file("ext.h5");
  {
    H5Handle f = create_with_y(p, 4);
    REQUIRE(H5Lcreate_external("elsewhere.h5", "/x", f.get(), "/train/x", H5P_DEFAULT, H5P_DEFAULT) >= 0);
  }
  check_has(data_error_message([&] { Split s(p, kTrain, true); }),
            {"ext.h5", "/train/x", "external link to /x in the file elsewhere.h5",
             "(HDF5: unable to open", "elsewhere.h5", "/train/x (cannot be opened)"});
}

TEST_CASE("a corrupt object header: HDF5's reason, and the dataset listed as unreadable") {
  TempDir d;
  const std::string p = d.file("hdr.h5");
  mp::test::write_simple_split(p, 8, 3, 2);
  haddr_t addr = 0;
  {
    H5Handle f(H5Fopen(p.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
    H5Handle x(H5Oopen(f.get(), "/train/x", H5P_DEFAULT));
    H5O_info_t info;
    REQUIRE(H5Oget_info2(x.get(), &info, H5O_INFO_BASIC) >= 0);
    addr = info.addr;
  }
  {
    std::fstream io(p, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(static_cast<std::streamoff>(addr));
    const std::string junk(16, '\xff');
    io.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  const std::string msg = data_error_message([&] { Split s(p, kTrain, false); });
  check_has(msg, {"hdr.h5", "dataset /train/x", "cannot be opened", "(HDF5: bad object header",
                  "damaged", "/train/x (cannot be opened), /train/y"});
}

namespace {
// /train/x float32 [8, 2] in chunks of 4 rows through filter kLzf (`flags`, run by `fn` while
// writing), /train/y int32 [8]; kLzf is unregistered afterwards.
std::string write_lzf(const TempDir& d, const char* name, unsigned flags, H5Z_func_t fn) {
  const std::string p = d.file(name);
  const H5Z_class2_t cls{H5Z_CLASS_T_VERS, kLzf, 1, 1, "lzf", nullptr, nullptr, fn};
  REQUIRE(H5Zregister(&cls) >= 0);
  {
    H5Handle f = create_with_y(p, 8);
    const hsize_t dims[2] = {8, 2}, chunk[2] = {4, 2};
    H5Handle space(H5Screate_simple(2, dims, nullptr));
    H5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
    H5Pset_chunk(dcpl.get(), 2, chunk);
    REQUIRE(H5Pset_filter(dcpl.get(), kLzf, flags, 0, nullptr) >= 0);
    H5Handle ds(H5Dcreate2(f.get(), "/train/x", H5T_NATIVE_FLOAT, space.get(),
                           intermediate_groups().get(), dcpl.get(), H5P_DEFAULT));
    const float x[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    REQUIRE(H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0);
  }
  REQUIRE(H5Zunregister(kLzf) >= 0);
  return p;
}

std::string read_rows_0_to_3(const std::string& p, bool in_memory) {
  return data_error_message([&] {
    Split s(p, kTrain, in_memory);
    const int64_t idx[4] = {0, 1, 2, 3};
    float x[8];
    int32_t y[4];
    s.read(idx, 4, 1.0, x, y, nullptr);
  });
}
}  // namespace

TEST_CASE("a compression filter this HDF5 build lacks is named, not a plugin folder") {
  TempDir d;
  // Mandatory: no chunk can be read, so the split is refused at open.
  const std::string m = write_lzf(d, "mandatory.h5", H5Z_FLAG_MANDATORY, pass_through);
  for (bool in_memory : {true, false}) {
    check_has(data_error_message([&] { Split s(m, kTrain, in_memory); }),
              {"mandatory.h5", "dataset /train/x: uses the lzf compression filter (id 32000), which "
               "this HDF5 build lacks", "gzip", "HDF5_PLUGIN_PATH"});
  }
  check_has(describe_h5(m), {"lzf (not available in this HDF5 build)"});
  // Optional (as h5py writes lzf) and applied to the chunks: the read that needs it names it.
  const std::string o = write_lzf(d, "optional.h5", H5Z_FLAG_OPTIONAL, pass_through);
  for (bool in_memory : {true, false}) {
    const std::string msg = read_rows_0_to_3(o, in_memory);
    check_has(msg, {"optional.h5", "dataset /train/x", "uses the lzf compression filter (id 32000)",
                    "this HDF5 build lacks", "gzip"});
    CHECK(msg.find("directory") == std::string::npos);  // not HDF5's "can't open directory"
  }
  // Optional and skipped for every chunk (it could not shrink them): readable without it.
  const std::string skipped = write_lzf(d, "skipped.h5", H5Z_FLAG_OPTIONAL, refuse);
  CHECK(read_rows_0_to_3(skipped, false) == "<no DataError thrown>");
}

TEST_CASE("rows declared but never written: refused at open, nothing allocated for them") {
  TempDir d;
  // 10^9 rows declared, 10 written: the epoch order alone would take gigabytes, loading it
  // into memory 16 GB. The check runs before either.
  const std::string p = d.file("huge.h5");
  {
    H5Handle f = h5_create(p);
    H5Handle x = create_chunked(f.get(), "/train/x", H5T_NATIVE_FLOAT, {1000000000, 4}, {1024, 4});
    const hsize_t start[2] = {0, 0}, count[2] = {10, 4};
    H5Handle fspace(H5Dget_space(x.get()));
    H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
    H5Handle mspace(H5Screate_simple(2, count, nullptr));
    const std::vector<float> rows(40, 1.0f);
    REQUIRE(H5Dwrite(x.get(), H5T_NATIVE_FLOAT, mspace.get(), fspace.get(), H5P_DEFAULT, rows.data()) >= 0);
    create_chunked(f.get(), "/train/y", H5T_NATIVE_INT32, {1000000000}, {4096});
  }
  for (bool in_memory : {true, false}) {
    check_has(data_error_message([&] { Split s(p, kTrain, in_memory); }),
              {"huge.h5", "dataset /train/x", "declares shape [1000000000, 4]", "chunks [1024, 4]",
               "only 1 of the 976563 chunks", "fill value", "resize"});
  }
  // A contiguous dataset that was created and never written.
  const std::string c = d.file("never.h5");
  {
    H5Handle f = create_with_y(c, 6);
    const hsize_t dims[2] = {6, 3};
    H5Handle space(H5Screate_simple(2, dims, nullptr));
    H5Handle ds(H5Dcreate2(f.get(), "/train/x", H5T_NATIVE_FLOAT, space.get(),
                           intermediate_groups().get(), H5P_DEFAULT, H5P_DEFAULT));
    REQUIRE(ds.valid());
  }
  check_has(data_error_message([&] { Split s(c, kTrain, false); }),
            {"never.h5", "/train/x", "declares shape [6, 3]", "never written"});
  // Fully written chunked data (the last chunk partial) passes.
  const std::string ok = d.file("ok.h5");
  mp::test::write_simple_split(ok, 3000, 100, 5, /*gzip=*/1);
  CHECK_NOTHROW(Split(ok, kTrain, false));
}

namespace {
// `rows` zero rows, chunked by 2^24 rows and gzip-compressed: chunk 0 goes through the filter,
// the others are copies of its compressed bytes (direct chunk writes), so a split of 2^28 rows
// is written in milliseconds and takes kilobytes.
void write_zero_rows(hid_t f, const char* path, int64_t rows, bool two_d) {
  const hsize_t chunk_rows = hsize_t{1} << 24;
  std::vector<hsize_t> dims{static_cast<hsize_t>(rows)}, chunk{chunk_rows};
  if (two_d) {
    dims.push_back(1);
    chunk.push_back(1);
  }
  H5Handle ds = create_chunked(f, path, H5T_NATIVE_UINT8, dims, chunk, 1);
  std::vector<hsize_t> off(dims.size(), 0);
  const std::vector<uint8_t> zeros(chunk_rows, 0);
  H5Handle fspace(H5Dget_space(ds.get()));
  H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, off.data(), nullptr, chunk.data(), nullptr);
  H5Handle mspace(H5Screate_simple(static_cast<int>(chunk.size()), chunk.data(), nullptr));
  REQUIRE(H5Dwrite(ds.get(), H5T_NATIVE_UINT8, mspace.get(), fspace.get(), H5P_DEFAULT, zeros.data()) >= 0);
  hsize_t nbytes = 0;
  REQUIRE(H5Dget_chunk_storage_size(ds.get(), off.data(), &nbytes) >= 0);
  std::vector<char> raw(nbytes);
  uint32_t mask = 0;
  REQUIRE(H5Dread_chunk(ds.get(), H5P_DEFAULT, off.data(), &mask, raw.data()) >= 0);
  for (hsize_t r = chunk_rows; r < dims[0]; r += chunk_rows) {
    off[0] = r;
    REQUIRE(H5Dwrite_chunk(ds.get(), H5P_DEFAULT, mask, off.data(), nbytes, raw.data()) >= 0);
  }
}
}  // namespace

TEST_CASE("a split too large to shuffle in memory is refused up front, with the dataset named") {
  TempDir d;
  const std::string p = d.file("big.h5");
  const int64_t n = kMaxShuffledSamples + 1;
  {
    H5Handle f = h5_create(p);
    write_zero_rows(f.get(), "/train/x", n, true);
    write_zero_rows(f.get(), "/train/y", n, false);
  }
  auto split = Split::open(p, kTrain, false);
  REQUIRE(split->size() == n);
  LoaderOptions o;
  o.batch_size = 4;
  o.prefetch = 0;
  o.shuffle = true;
  check_has(data_error_message([&] { DataLoader l(split, o); }),
            {"big.h5", "dataset /train/x", "268435457 samples", "268435456", "4 bytes per sample",
             "data.shuffle: false"});
  // Unshuffled, the order is computed on the fly: no memory, any size.
  o.shuffle = false;
  DataLoader l(split, o);
  CHECK(l.batches_per_epoch() == n / 4);
  const Batch b = l.next();
  CHECK(b.indices == std::vector<int64_t>{0, 1, 2, 3});
}

TEST_CASE("unusual shapes: one bare value per sample, an empty dataspace") {
  TempDir d;
  const std::string p = d.file("shapes.h5");
  {
    H5Handle f = create_with_y(p, 5);
    const std::vector<float> x(5, 1.0f);
    h5_write(f.get(), "/train/x1", {5}, x.data());
    H5Handle null_space(H5Screate(H5S_NULL));
    H5Handle ds(H5Dcreate2(f.get(), "/train/empty", H5T_NATIVE_FLOAT, null_space.get(),
                           H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    REQUIRE(ds.valid());
  }
  check_has(data_error_message([&] { Split s(p, {"/train/x1", "/train/y"}, false); }),
            {"shapes.h5", "dataset /train/x1", "found shape [5]", "store x as [N, 1]"});
  check_has(data_error_message([&] { Split s(p, {"/train/empty", "/train/y"}, false); }),
            {"dataset /train/empty", "scalar or an empty dataspace"});
}
