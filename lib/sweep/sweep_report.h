// sweep_report.h: what a sweep writes next to its point directories:
//   sweep.csv  one row per point, header
//              <grid keys...>,status,final_train_loss,best_val_loss,final_val_accuracy,steps,
//              skipped_steps,samples_per_s,peak_memory_bytes,wall_s,point,message
//              status: ok | failed | interrupted | not_run; the figures come from the point's
//              summary.json (empty when it has none); point = the folder name; message = why a
//              point failed / was interrupted, or that it finished in an earlier invocation.
//   report.md  the same as a markdown table, with the base config, overrides, grid, device, the
//              samples/s of every point relative to the first completed one (only numbers measured
//              by this sweep's runs), failure messages and links to the plots.
#pragma once
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "sweep/sweep_grid.h"
#include "train/run_files.h"

namespace mp {

enum class PointStatus { NotRun, Ok, Failed, Interrupted };
const char* point_status_name(PointStatus s);  // "not_run", "ok", "failed", "interrupted"

struct PointResult {
  GridPoint point;
  PointStatus status = PointStatus::NotRun;
  bool reused = false;  // finished by an earlier invocation of the sweep; not run again
  int exit_code = 0;    // of a failed or interrupted point
  std::string message;
  std::optional<Summary> summary;  // the point's summary.json, when it wrote one
  double wall_s = NAN;             // measured by the sweep (used when there is no summary)
};

struct SweepInfo {
  std::string name;     // the base spec's name
  std::string config;   // base config path as given
  std::string command;  // the command line that reproduces (and resumes) the sweep
  std::string dir;      // sweep directory
  std::vector<std::string> sets;
  std::vector<GridAxis> axes;
  std::string host;        // CPU model / cores, "" when unknown
  std::string load_start;  // /proc/loadavg 1-minute figure at the start, "" when unknown
  std::string load_end;
  bool finished = false;     // false while points are still to run (report written after each)
  bool plots_drawn = false;  // loss.png, val.png, loss_scale.png exist
  std::string plot_note;     // why there are no plots (when !plots_drawn and finished)
};

// "point,message" and the figures are CSV-quoted where needed (RFC 4180).
std::string sweep_csv(const std::vector<GridAxis>& axes, const std::vector<PointResult>& results);

std::string sweep_report_md(const SweepInfo& info, const std::vector<PointResult>& results);

// One CSV cell, quoted when it holds a comma, quote or line break.
std::string csv_cell(const std::string& s);

}  // namespace mp
