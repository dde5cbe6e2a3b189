// data_finite_check.cpp (bench_data_finite_check): what the NaN/Inf checks on data cost.
//   per batch: first_nonfinite over one batch of 128 x 784 floats (MNIST inputs), the check
//              Split::read runs on every batch; and a whole batch built by the loader
//              (BatchMaker::make: random rows, conversion, check) for scale;
//   up front:  Split::check_finite (data.check_finite: true) over a 60000 x 784 float32 split.
// Writes the float file to a temp folder (~190 MB, removed after). Prints a table; not a test.
//   bench_data_finite_check [rows]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "core/philox.h"
#include "data/batch_maker.h"
#include "data/finite_scan.h"
#include "data/h5_write.h"

using namespace mp;

namespace {
double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
// Median seconds per call of f over `reps` calls, in 7 rounds.
template <class F> double per_call(int reps, F f) {
  std::vector<double> t;
  for (int r = 0; r < 7; ++r) {
    const double t0 = now();
    for (int i = 0; i < reps; ++i) f();
    t.push_back((now() - t0) / reps);
  }
  std::sort(t.begin(), t.end());
  return t[3];
}
}  // namespace

int main(int argc, char** argv) {
  const int64_t rows = argc > 1 ? std::atoll(argv[1]) : 60000, dim = 784, batch = 128;
  std::vector<float> x(static_cast<size_t>(rows * dim));
  for (size_t i = 0; i < x.size(); ++i) x[i] = philox_normal(1, 1, i);
  std::vector<int32_t> y(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) y[static_cast<size_t>(i)] = static_cast<int32_t>(i % 10);

  int64_t sink = 0;
  const double scan = per_call(20000, [&] { sink += first_nonfinite(x.data(), batch * dim); });
  const auto dir = std::filesystem::temp_directory_path() / "mptrain_bench_finite";
  std::filesystem::create_directories(dir);
  const std::string file = (dir / "f32.h5").string();
  {
    H5Handle f = h5_create(file);
    h5_write(f.get(), "/train/x", {rows, dim}, x.data());
    h5_write(f.get(), "/train/y", {rows}, y.data());
  }
  std::printf("%-52s %12s\n", "what", "time");
  std::printf("%-52s %9.2f us\n", "first_nonfinite, one 128 x 784 float batch", scan * 1e6);
  for (bool in_memory : {true, false}) {
    auto split = Split::open(file, {"/train/x", "/train/y", "training"}, in_memory);
    LoaderOptions o;
    o.batch_size = batch;
    o.seed = 1;
    BatchMaker m(split, o);
    int64_t b = 0;
    const double make = per_call(200, [&] {
      sink += m.make({0, b}).size;
      b = (b + 1) % m.plan().batches;
    });
    std::printf("%-52s %9.2f us\n",
                in_memory ? "BatchMaker::make (in memory), incl. the check" : "BatchMaker::make (from file), incl. the check",
                make * 1e6);
    const double t0 = now();
    split->check_finite();
    std::printf("%-52s %9.2f ms\n",
                in_memory ? "check_finite, 60000 x 784 float32 (in memory)" : "check_finite, 60000 x 784 float32 (from file)",
                (now() - t0) * 1e3);
  }
  std::filesystem::remove_all(dir);
  return sink == 42 ? 1 : 0;
}
