// run_files.h: the text files of a run directory (docs/ARCHITECTURE.md "Run directory and exit codes"):
//   metrics.csv   step,epoch,loss,lr,loss_scale,grad_norm,skipped,samples_per_s,time_s
//   eval.csv      step,val_loss,val_accuracy   (accuracy empty for regression)
//   telemetry.csv a header the caller gives; its first column must be `step`
//   summary.json  final figures (write_summary_json)
// CSV logs are appended row by row and flushed, so a crash loses at most the row being written. On
// resume from step s a log keeps only its rows with step <= s (rewritten atomically) and appends
// after them, so a resumed run's files read as if it had never stopped. Numbers are written in the
// shortest form that reads back to the same double (std::to_chars), so resumed rows compare
// identical.
#pragma once
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mp {

inline constexpr std::string_view kMetricsHeader =
    "step,epoch,loss,lr,loss_scale,grad_norm,skipped,samples_per_s,time_s";
inline constexpr std::string_view kEvalHeader = "step,val_loss,val_accuracy";

// Shortest round-trip decimal form of v ("0.1", "1e-05", "65536"); "nan", "inf", "-inf" otherwise.
std::string format_number(double v);

// An append-only CSV file whose first column is the step.
class CsvLog {
 public:
  // Opens `path` under `header` (no trailing newline). Rows of an existing file with
  // step <= keep_through_step are kept (pass the resumed step; 0 for a fresh run keeps none), the
  // rest and any half-written last line are dropped. Throws DataError when the existing file has
  // another header or a row that does not start with a step, and when the file cannot be written.
  CsvLog(std::filesystem::path path, std::string header, int64_t keep_through_step);
  ~CsvLog();
  CsvLog(const CsvLog&) = delete;
  CsvLog& operator=(const CsvLog&) = delete;

  // Appends one row (cells joined by the caller, no newline) and flushes it to the OS.
  void append_row(std::string_view row);
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
};

struct MetricsRow {
  int64_t step = 0;  // attempted optimizer steps so far (1-based after the first step)
  int64_t epoch = 0;
  double loss = 0;
  double lr = 0;
  double loss_scale = 1;
  double grad_norm = 0;
  bool skipped = false;
  double samples_per_s = 0;
  double time_s = 0;  // wall seconds since the run (this process) started
};

// "12,0,0.6931,0.001,65536,1.25,0,5120.5,3.25"
std::string metrics_csv_row(const MetricsRow& r);

class MetricsLog {
 public:
  MetricsLog(std::filesystem::path path, int64_t keep_through_step)
      : log_(std::move(path), std::string(kMetricsHeader), keep_through_step) {}
  void append(const MetricsRow& r) { log_.append_row(metrics_csv_row(r)); }

 private:
  CsvLog log_;
};

// "100,0.25,0.9375"; val_accuracy is left empty when negative or NaN (regression).
std::string eval_csv_row(int64_t step, double val_loss, double val_accuracy);

class EvalLog {
 public:
  EvalLog(std::filesystem::path path, int64_t keep_through_step)
      : log_(std::move(path), std::string(kEvalHeader), keep_through_step) {}
  void append(int64_t step, double val_loss, double val_accuracy) {
    log_.append_row(eval_csv_row(step, val_loss, val_accuracy));
  }

 private:
  CsvLog log_;
};

// Precision telemetry: the caller names the columns after `step`.
class TelemetryLog {
 public:
  // header: "step,<col>,<col>..." (must start with "step,").
  TelemetryLog(std::filesystem::path path, std::string header, int64_t keep_through_step);
  // One row: the step then one number per column of the header after `step`.
  void append(int64_t step, const std::vector<double>& values);

 private:
  size_t columns_;
  CsvLog log_;
};

// summary.json. NaN/inf figures (no validation split, no accuracy) are written as null.
struct Summary {
  static constexpr double kNone = std::numeric_limits<double>::quiet_NaN();
  double final_train_loss = kNone;
  double best_val_loss = kNone;       // NaN: no validation split
  double final_val_accuracy = kNone;  // NaN: regression or no validation split
  int64_t steps = 0;
  int64_t skipped_steps = 0;
  double samples_per_s = 0;
  int64_t peak_memory_bytes = 0;
  double wall_s = 0;
  std::string policy;
  std::string device;
  int64_t world_size = 1;
  double comm_s_per_step = 0;         // gradient collectives (all-reduce or reduce-scatter +
                                      // all-gather) per step, rank 0's wall time; 0: one process
  int64_t optimizer_state_bytes = 0;  // rank 0's optimizer state (dist.zero: 1: its shard)
  // train.cuda_graph (rank 0's micro-batches; all 0 when off): passes that captured a graph,
  // launched one, and fell back to eager execution (step_graphs.h).
  int64_t graph_captures = 0;
  int64_t graph_replays = 0;
  int64_t graph_fallbacks = 0;
};

// The JSON text (an object, keys in the order above, newline-terminated).
std::string summary_json(const Summary& s);
// Writes summary_json(s) to `path` atomically.
void write_summary_json(const std::filesystem::path& path, const Summary& s);

// JSON string literal of `s` with quotes, escaping ", \ and control characters.
std::string json_quote(std::string_view s);

// The cells of one CSV line (RFC 4180 quoting, as telemetry layer names and sweep.csv use it): a
// quoted cell may hold commas and doubled quotes; line breaks inside cells are the caller's to join.
std::vector<std::string> csv_cells(const std::string& line);

}  // namespace mp
