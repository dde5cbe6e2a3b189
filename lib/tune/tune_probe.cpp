// tune_probe.cpp: a probe run through the Trainer and its run files read back (tune_probe.h).
#include "tune/tune_probe.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>

#include "core/error.h"
#include "core/exit_report.h"
#include "precision/telemetry.h"
#include "train/run_files.h"
#include "train/trainer.h"

namespace mp {

namespace fs = std::filesystem;

namespace {

// The rows of a CSV file under `header`, each split into `header`'s number of cells.
std::vector<std::vector<std::string>> read_csv(const fs::path& path, const std::string& header) {
  std::ifstream in(path);
  if (!in) throw DataError(path.string() + ": cannot be read (the probe run wrote no such file)");
  std::string line;
  if (!std::getline(in, line) || line != header)
    throw DataError(path.string() + ": expected the header \"" + header + "\"");
  const size_t n = csv_cells(header).size();
  std::vector<std::vector<std::string>> rows;
  for (int lineno = 2; std::getline(in, line); ++lineno) {
    if (line.empty()) continue;
    std::vector<std::string> cells = csv_cells(line);
    if (cells.size() != n)
      throw DataError(path.string() + " line " + std::to_string(lineno) + ": " +
                      std::to_string(cells.size()) + " cells, expected " + std::to_string(n));
    rows.push_back(std::move(cells));
  }
  return rows;
}

double number(const std::string& cell) {
  return std::strtod(cell.c_str(), nullptr);  // also reads nan, inf
}

RoundingPoint parse_point(const std::string& name, const fs::path& path) {
  for (RoundingPoint p : {RoundingPoint::Output, RoundingPoint::InputCast, RoundingPoint::InputGrad,
                          RoundingPoint::GradCast})
    if (name == rounding_point_name(p)) return p;
  throw DataError(path.string() + ": unknown quantity \"" + name + "\"");
}

int64_t count_of(double frac, int64_t numel) {
  return static_cast<int64_t>(std::llround(frac * static_cast<double>(numel)));
}

}  // namespace

std::vector<ProbeStep> read_probe_metrics(const fs::path& metrics_csv) {
  std::vector<ProbeStep> out;
  for (const auto& c : read_csv(metrics_csv, std::string(kMetricsHeader)))
    out.push_back({static_cast<int64_t>(number(c[0])), number(c[2]), number(c[4]), c[6] == "1"});
  return out;
}

std::vector<TelemetryRow> read_probe_telemetry(const fs::path& telemetry_csv) {
  std::vector<TelemetryRow> out;
  for (const auto& c : read_csv(telemetry_csv, telemetry_csv_header())) {
    TelemetryRow r;
    r.step = static_cast<int64_t>(number(c[0]));
    r.layer = c[1];
    r.point = parse_point(c[2], telemetry_csv);
    const auto dt = parse_dtype(c[3]);
    if (!dt) throw DataError(telemetry_csv.string() + ": unknown dtype \"" + c[3] + "\"");
    r.dtype = *dt;
    r.loss_scale = number(c[4]);
    r.numel = static_cast<int64_t>(number(c[5]));
    r.underflow = count_of(number(c[6]), r.numel);
    r.overflow = count_of(number(c[7]), r.numel);
    r.near_max = count_of(number(c[8]), r.numel);
    r.max_abs = number(c[9]);
    out.push_back(std::move(r));
  }
  return out;
}

RunSpec probe_spec(const RunSpec& base, const ProbeConfig& pc, const fs::path& dir) {
  RunSpec s = base;
  PrecisionSpec& p = s.precision;
  p.policy = std::string(dtype_name(pc.policy));
  for (const std::string& l : pc.fp32_layers)
    if (std::find(p.fp32_layers.begin(), p.fp32_layers.end(), l) == p.fp32_layers.end())
      p.fp32_layers.push_back(l);
  p.loss_scale.mode = pc.policy == DType::F16 ? "dynamic" : "none";
  p.loss_scale.init = pc.loss_scale;
  p.telemetry_every = 1;
  s.train.steps = pc.steps;
  s.train.log_every = 1;
  s.train.eval_every = 0;
  s.train.checkpoint_every = 0;
  s.train.keep_checkpoints = 1;
  s.data.val = SplitSpec{"", "", "validation"};  // no evaluation: training losses are compared
  s.output.dir = dir.string();
  return s;
}

ProbeResult run_probe(const RunSpec& base, const ProbeConfig& pc, const fs::path& dir,
                      int verbosity) {
  ProbeResult r;
  r.config = pc;
  fs::create_directories(dir);
  TrainerOptions t;
  t.run_dir = dir.string();
  t.verbosity = -1;  // no per-step lines or progress bar: the caller reports
  t.print_result = false;
  // The trainer's info lines (device, model, policy) would repeat for every probe.
  const auto level = spdlog::get_level();
  if (verbosity <= 0) spdlog::set_level(spdlog::level::warn);
  try {
    Trainer trainer(probe_spec(base, pc, dir), t);
    r.exit_code = trainer.run();
  } catch (const NumericalError&) {
    r.exit_code = current_exit_report().code;
    r.error = current_exit_report().message;
  } catch (...) {
    spdlog::set_level(level);
    throw;
  }
  spdlog::set_level(level);
  if (r.exit_code == kExitSigint || r.exit_code == kExitSigterm) throw ProbeStopped{r.exit_code};
  std::error_code ec;
  if (fs::exists(dir / "metrics.csv", ec)) r.steps = read_probe_metrics(dir / "metrics.csv");
  if (fs::exists(dir / "telemetry.csv", ec)) r.rows = read_probe_telemetry(dir / "telemetry.csv");
  return r;
}

}  // namespace mp
