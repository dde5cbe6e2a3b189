// run_files_csv.cpp: CsvLog (resume truncation + flushed appends) and the metrics/eval/telemetry
// rows.
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>

#include "checkpoint/atomic_file.h"
#include "core/error.h"
#include "train/run_files.h"

namespace mp {
namespace fs = std::filesystem;

namespace {

// The rows of an existing log to keep on resume: header checked, complete lines only, step <= s.
std::string kept_content(const fs::path& path, const std::string& header, int64_t keep_through) {
  std::string out = header + "\n";
  std::error_code ec;
  if (keep_through <= 0 || !fs::exists(path, ec)) return out;
  const std::string text = read_file(path);
  size_t pos = 0;
  int64_t line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) break;  // a row cut short by a crash: drop it
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line_no == 1) {
      if (line != header)
        throw DataError(path.string() + ":1: expected the header \"" + header + "\", found \"" +
                        line +
                        "\"; this run directory was written by another kind of run: resume "
                        "into the right directory or start a new one (--out DIR)");
      continue;
    }
    if (line.empty()) continue;
    int64_t step = 0;
    auto [end, err] = std::from_chars(line.data(), line.data() + line.size(), step);
    if (err != std::errc() || (end != line.data() + line.size() && *end != ','))
      throw DataError(path.string() + ":" + std::to_string(line_no) +
                      ": expected a row starting with a step number, found \"" + line +
                      "\"; repair or delete the file before resuming");
    if (step <= keep_through) out += line + "\n";
  }
  return out;
}

}  // namespace

std::string format_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

CsvLog::CsvLog(fs::path path, std::string header, int64_t keep_through_step)
    : path_(std::move(path)) {
  write_file_atomic(path_, kept_content(path_, header, keep_through_step));
  file_ = std::fopen(path_.c_str(), "a");
  if (!file_)
    throw DataError("cannot open " + path_.string() + " for appending: " + std::strerror(errno) +
                    "; check that the run directory is writable");
}

CsvLog::~CsvLog() {
  if (file_) std::fclose(file_);
}

void CsvLog::append_row(std::string_view row) {
  std::string line(row);
  line += '\n';
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    throw DataError("cannot append to " + path_.string() + ": " + std::strerror(errno) +
                    "; check that the disk is not full");
}

std::string metrics_csv_row(const MetricsRow& r) {
  return std::to_string(r.step) + "," + std::to_string(r.epoch) + "," + format_number(r.loss) +
         "," + format_number(r.lr) + "," + format_number(r.loss_scale) + "," +
         format_number(r.grad_norm) + "," + (r.skipped ? "1" : "0") + "," +
         format_number(r.samples_per_s) + "," + format_number(r.time_s);
}

std::string eval_csv_row(int64_t step, double val_loss, double val_accuracy) {
  std::string acc =
      (std::isnan(val_accuracy) || val_accuracy < 0) ? "" : format_number(val_accuracy);
  return std::to_string(step) + "," + format_number(val_loss) + "," + acc;
}

namespace {

size_t telemetry_columns(const std::string& header) {
  MP_CHECK(header.rfind("step,", 0) == 0,
           "telemetry header must start with \"step,\", got \"" + header + "\"");
  size_t commas = 0;
  for (char c : header) commas += (c == ',');
  return commas;
}

}  // namespace

TelemetryLog::TelemetryLog(fs::path path, std::string header, int64_t keep_through_step)
    : columns_(telemetry_columns(header)), log_(std::move(path), header, keep_through_step) {}

void TelemetryLog::append(int64_t step, const std::vector<double>& values) {
  MP_CHECK(values.size() == columns_, "telemetry row has " + std::to_string(values.size()) +
                                          " values for " + std::to_string(columns_) + " columns");
  std::string row = std::to_string(step);
  for (double v : values) row += "," + format_number(v);
  log_.append_row(row);
}

std::vector<std::string> csv_cells(const std::string& line) {
  std::vector<std::string> cells(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c != '"') cells.back() += c;
      else if (i + 1 < line.size() && line[i + 1] == '"') cells.back() += '"', ++i;
      else quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      cells.emplace_back();
    } else {
      cells.back() += c;
    }
  }
  return cells;
}

}  // namespace mp
