// run_spec.h: the typed run spec every other part reads. Loaded from YAML by spec_loader.h with
// defaults for everything optional; see configs/REFERENCE.md for every key.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/data_spec.h"
#include "nn/layer_spec.h"
#include "optim/optim_spec.h"
#include "precision/precision_spec.h"

namespace mp {

struct ModelSpec {
  std::vector<int64_t> input_shape;  // per-sample input shape; empty = taken from the data file
  std::vector<LayerSpec> layers;     // required, non-empty
  std::string loss = "cross_entropy";  // cross_entropy | mse
  int64_t ignore_index = -100;         // cross_entropy: label to ignore
  int64_t num_classes = 0;             // cross_entropy: 0 = the last layer's output width
};

struct TrainSpec {
  int64_t steps = 0;            // optimizer steps; 0 = run `epochs` epochs
  int64_t epochs = 1;           // used when steps == 0, >= 1
  int64_t accum_steps = 1;      // micro-batches per optimizer step, >= 1
  int64_t log_every = 50;       // steps between metrics rows, >= 1
  int64_t eval_every = 0;       // steps between evaluations; 0 = at the end of each epoch
  int64_t checkpoint_every = 0; // steps between checkpoints; 0 = only at the end
  int64_t keep_checkpoints = 3; // newest checkpoints kept, >= 1
  std::string init_from;        // "" or an HDF5 file whose /params start the run (fine-tuning)
  std::vector<std::string> init_exclude;  // names or prefixes init_from leaves at the initialiser
  bool cuda_graph = false;  // micro-batches replayed as graphs (train/step_graphs.h)
};

struct OutputSpec {
  std::string dir = "runs/{name}";  // placeholders: {name}, {seed}, any {section.key}
};

struct DistSpec {
  int64_t zero = 0;  // 1 = ZeRO-1: optimizer state sharded over the data-parallel ranks
};

struct DebugSpec {
  std::vector<int64_t> inject_nonfinite_grad_steps;  // poison one gradient at these steps (1-based)
  int64_t inject_rank = -1;  // data parallel: poison only on this rank; -1 = every rank
};

struct RunSpec {
  std::string name = "run";  // [A-Za-z0-9_.-]+
  int64_t seed = 0;
  std::string device = "auto";  // auto | cpu | cuda
  int64_t threads = 0;          // CPU threads; 0 = OMP_NUM_THREADS or all cores
  DataSpec data;
  ModelSpec model;
  PrecisionSpec precision;
  OptimizerSpec optimizer;
  ScheduleSpec schedule;
  TrainSpec train;
  OutputSpec output;
  DistSpec dist;
  DebugSpec debug;

  std::string source;  // the spec file path ("" for specs built in code)
};

}  // namespace mp
