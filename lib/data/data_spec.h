// data_spec.h: the `data:` section of a run spec.
#pragma once
#include <cstdint>
#include <string>

namespace mp {

struct SplitSpec {
  std::string x;          // HDF5 dataset path of the inputs, e.g. /train/x
  std::string y;          // HDF5 dataset path of the labels or targets, e.g. /train/y
  std::string role = "";  // "training" or "validation", for messages ("" = unnamed)
};

struct DataSpec {
  std::string format = "samples";  // "samples": x [N, ...] and y per sample; "tokens": train.x and
                                   // val.x are 1-D token streams cut into windows (token_windows.h)
  int64_t context = 0;             // tokens: window length T (model.input_shape is [T])
  std::string file;                // HDF5 file (relative paths: against the working directory,
                                   // then the spec file's folder)
  SplitSpec train{"/train/x", "/train/y", "training"};
  SplitSpec val{"/val/x", "/val/y", "validation"};  // empty x = no validation
  double input_scale = 1.0;        // inputs are multiplied by this (1/255 for uint8 images)
  int64_t batch_size = 32;         // per rank, per micro-batch, >= 1
  bool shuffle = true;             // seeded shuffle each epoch
  bool drop_last = true;           // drop the last incomplete batch of an epoch
  bool in_memory = false;          // load the whole split into memory at start
  int64_t prefetch = 2;            // batches prepared ahead by the background thread, >= 1
  bool check_finite = false;       // scan float inputs for NaN/Inf at start (exit 3); batches
                                   // are always checked as they load (Split::read)
};

}  // namespace mp
