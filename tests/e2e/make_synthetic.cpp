// make_synthetic.cpp: test helper that writes a synthetic HDF5 data set in the MNIST layout.
//   mptrain_make_synthetic classification FILE N_TRAIN N_VAL DIM CLASSES SEED
//   mptrain_make_synthetic regression     FILE N_TRAIN N_VAL DIM OUT_DIM SEED
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "data/synthetic_data.h"

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr, "usage: %s classification|regression FILE N_TRAIN N_VAL DIM CLASSES|OUT SEED\n", argv[0]);
    return 2;
  }
  const std::string kind = argv[1];
  const auto n = [&](int i) { return std::strtoll(argv[i], nullptr, 10); };
  try {
    if (kind == "classification")
      mp::write_synthetic_classification(argv[2], n(3), n(4), n(5), n(6), static_cast<uint64_t>(n(7)));
    else if (kind == "regression")
      mp::write_synthetic_regression(argv[2], n(3), n(4), n(5), n(6), static_cast<uint64_t>(n(7)));
    else {
      std::fprintf(stderr, "unknown kind %s\n", kind.c_str());
      return 2;
    }
  } catch (const mp::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return e.exit_code();
  }
  return 0;
}
