// sweep.h: `mptrain sweep`: one training run per point of a grid of overrides, in this process,
// one after another, then a comparison report (sweep_report.h) and plots (sweep_plot.h).
//
//  1. Check everything before running anything: the grid (sweep_grid.h), the base spec with the
//     --set overrides, and every point's spec (base overrides, then the point's KEY=VALUE). The
//     first bad point ends the sweep with its ConfigError (exit 2) and nothing is created. So does
//     a point whose spec equals another point's, and a point directory that holds a run of another
//     config (its config.yaml differs from the point's resolved spec).
//  2. Points run sequentially into DIR/<point-id> (a normal run directory; its config.yaml names it
//     as output.dir). While a point runs its directory holds a marker file `.sweep_unfinished`,
//     removed when the run completes. A point is finished when it has summary.json and no marker;
//     finished points are skipped by a later invocation with the same --out (printed, and marked
//     "earlier" in the report), unfinished ones resume from their newest checkpoint.
//  3. A point that fails (NumericalError, DataError, a ConfigError only the run itself finds, an
//     internal error) is recorded as failed with its exit code and message; the sweep goes on.
//  4. SIGINT/SIGTERM during a point: the Trainer saves a checkpoint and returns 130/143; the sweep
//     stops there (later points: not_run), writes its report without plots and returns that code.
//     A signal between points (or while a point is still loading) stops the sweep after that point.
//  5. sweep.csv and report.md are rewritten (atomically) after every point; at the end the plot
//     script runs and report.md links the plots or says why there are none.
// Exit code: 130/143 when interrupted; otherwise the exit code of the first failed point in grid
// order (4 divergence, 3 data, ...), so CI notices a failed point; 0 when every point is ok. A
// missing Python/matplotlib never changes the exit code.
#pragma once
#include <string>
#include <vector>

#include "config/run_spec.h"

namespace mp {

struct SweepOptions {
  std::string config;             // base run spec
  std::vector<std::string> grid;  // --grid KEY=V1,V2,... arguments, in order
  std::vector<std::string> sets;  // --set KEY=VALUE overrides for every point
  std::string out_dir;            // sweep directory; "" = runs/sweep_<name>; placeholders allowed
  std::string python = "/usr/bin/python3";
  std::string plot_script;  // path of scripts/plot_runs.py; "" = not found
  std::string command;      // the invocation, for report.md ("" = rebuilt from the above)
  int verbosity = 0;        // -1 quiet, 0 normal, 1 verbose (passed to each run)
};

// Runs the sweep; returns the exit code above. Throws ConfigError for step 1 problems.
int run_sweep(const SweepOptions& opt);

// The sweep directory: out_dir with its placeholders filled from the base spec, or
// runs/sweep_<name>.
std::string sweep_directory(const std::string& out_dir, const RunSpec& base);

// Name of the marker file a running point leaves in its directory.
inline constexpr const char* kSweepUnfinishedMarker = ".sweep_unfinished";

}  // namespace mp
