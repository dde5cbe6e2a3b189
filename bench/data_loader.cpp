// bench/data_loader.cpp: batches per second of the DataLoader on MNIST (batch 128, shuffled,
// input_scale 1/255), in-memory vs chunked reads, with and without the prefetch thread. The
// consumer does no work, so this is the loader's ceiling. Prints a table; not a test.
//   bench_data_loader [FILE.h5] [epochs]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "data/data_loader.h"

int main(int argc, char** argv) {
  const std::string file =
      argc > 1 ? argv[1]
               : (std::filesystem::path(MPTRAIN_SOURCE_DIR) / "datasets/mnist/mnist.h5").string();
  const int epochs = argc > 2 ? std::atoi(argv[2]) : 5;
  std::printf("%-10s %-9s %9s %10s %12s\n", "mode", "prefetch", "batches", "batches/s", "samples/s");
  for (bool in_memory : {true, false}) {
    for (int64_t prefetch : {0, 2, 4}) {
      auto split = mp::Split::open(file, {"/train/x", "/train/y"}, in_memory);
      mp::LoaderOptions o;
      o.batch_size = 128;
      o.prefetch = prefetch;
      o.input_scale = 1.0 / 255.0;
      o.seed = 1;
      mp::DataLoader dl(split, o);
      dl.next();  // warm up: thread started, first chunks cached
      const int64_t n = dl.batches_per_epoch() * epochs;
      const auto t0 = std::chrono::steady_clock::now();
      double checksum = 0;
      for (int64_t i = 0; i < n; ++i) checksum += dl.next().x[0];
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("%-10s %-9lld %9lld %10.0f %12.0f%s\n", in_memory ? "in_memory" : "chunked",
                  static_cast<long long>(prefetch), static_cast<long long>(n), n / s, n * 128 / s,
                  checksum < 0 ? "!" : "");
    }
  }
}
