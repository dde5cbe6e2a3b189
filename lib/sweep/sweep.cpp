// sweep.cpp: the sweep runner (behaviour in sweep.h): validate every point, run them through the
// Trainer one by one, record outcomes, write sweep.csv/report.md, draw the plots.
#include "sweep/sweep.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "checkpoint/atomic_file.h"
#include "config/output_dir.h"
#include "config/spec_dump.h"
#include "config/spec_loader.h"
#include "core/error.h"
#include "core/exit_report.h"
#include "sweep/sweep_grid.h"
#include "sweep/sweep_plot.h"
#include "sweep/sweep_report.h"
#include "sweep/sweep_summary.h"
#include "train/signals.h"
#include "train/trainer.h"

namespace mp {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// --- signals between points ------------------------------------------------------------------
// While a point trains, the Trainer's SignalGuard (nested inside this one) owns SIGINT/SIGTERM.
// Between points a signal only notes the request, so the sweep stops after the current point; a
// second SIGINT quits at once (every file the sweep writes is replaced atomically).
const SignalNotices kSweepNotices = {
    "\nmptrain sweep: second interrupt: quitting now\n",  // no start-up phase between points
    "\nmptrain sweep: second interrupt: quitting now\n",
    "\nmptrain sweep: stop requested: finishing the current point, then writing the report\n",
    "\nmptrain sweep: stop requested: finishing the current point, then writing the report\n",
    "\nmptrain sweep: second interrupt: quitting now\n",
};

// --- host facts for the report ---------------------------------------------------------------
std::string first_line_value(const char* file, const char* prefix) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) == 0) {
      const size_t colon = line.find(':');
      if (colon == std::string::npos) return "";
      const size_t b = line.find_first_not_of(" \t", colon + 1);
      return b == std::string::npos ? "" : line.substr(b);
    }
  return "";
}

std::string host_description() {
  std::string cpu = first_line_value("/proc/cpuinfo", "model name");
  const unsigned n = std::thread::hardware_concurrency();
  if (n > 0) cpu += (cpu.empty() ? "" : ", ") + std::to_string(n) + " hardware threads";
  return cpu;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  in >> one;
  return one;
}

// --- validation helpers ----------------------------------------------------------------------
std::string dump_without_dir(RunSpec spec) {
  spec.output.dir = "<point>";
  return dump_spec(spec);
}

// "line N: `a` here, `b` in the directory" for the first differing line of two dumps.
std::string first_difference(const std::string& mine, const std::string& theirs) {
  std::istringstream a(mine), b(theirs);
  std::string la, lb;
  for (int n = 1;; ++n) {
    const bool ha = static_cast<bool>(std::getline(a, la));
    const bool hb = static_cast<bool>(std::getline(b, lb));
    if (!ha && !hb) return "";
    if (!ha) la = "(end)";
    if (!hb) lb = "(end)";
    if (la != lb)
      return "line " + std::to_string(n) + ": \"" + la + "\" in this sweep, \"" + lb + "\" there";
  }
}

std::string key_of(const std::string& set) { return set.substr(0, set.find('=')); }

// The point's ConfigError, reworded to name the grid when it is about one of the grid's keys.
[[noreturn]] void rethrow_point_error(const ConfigError& e, const GridPoint& p, size_t index,
                                      size_t total, const std::vector<GridAxis>& axes) {
  std::string msg = e.what();
  for (const GridAxis& a : axes) {
    const std::string set_prefix = "--set " + a.key + ":";
    if (msg.rfind(set_prefix, 0) == 0) {
      msg = "--grid " + a.key + ":" + msg.substr(set_prefix.size());
      break;
    }
  }
  throw ConfigError("sweep point " + std::to_string(index + 1) + " of " + std::to_string(total) +
                    " (" + p.label + "): " + msg + "; nothing was run");
}

struct PlannedPoint {
  RunSpec spec;
  fs::path dir;
  bool finished = false;  // summary.json and no marker: skip
  std::optional<Summary> summary;
};

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                        "0123456789._+-=/,:@%") == std::string::npos)
    return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::string sweep_directory(const std::string& out_dir, const RunSpec& base) {
  if (out_dir.empty()) return "runs/sweep_" + base.name;
  const Expanded e = expand_placeholders(out_dir, base);
  if (e.error) throw ConfigError("--out " + out_dir + ": " + *e.error);
  return e.text;
}

namespace {

// Step 1 for one point: its spec, its directory, and whether an earlier invocation finished it.
// `dumps` holds the resolved specs of the points before it (a repeated spec is refused).
PlannedPoint plan_point(const SweepOptions& opt, const std::vector<GridAxis>& axes,
                        const std::vector<GridPoint>& points, size_t i, const fs::path& dir,
                        std::vector<std::string>& dumps) {
  const GridPoint& p = points[i];
  std::vector<std::string> overrides = opt.sets;
  overrides.insert(overrides.end(), p.overrides.begin(), p.overrides.end());
  PlannedPoint pp;
  try {
    pp.spec = load_spec(opt.config, overrides);
  } catch (const ConfigError& e) {
    rethrow_point_error(e, p, i, points.size(), axes);
  }
  pp.dir = dir / p.id;
  pp.spec.output.dir = pp.dir.string();
  const std::string dump = dump_without_dir(pp.spec);
  for (size_t j = 0; j < dumps.size(); ++j)
    if (dumps[j] == dump)
      throw ConfigError("sweep points " + std::to_string(j + 1) + " (" + points[j].label +
                        ") and " + std::to_string(i + 1) + " (" + p.label +
                        ") resolve to the same run spec; drop one of the values; nothing was "
                        "run");
  dumps.push_back(dump);

  // A directory from an earlier invocation must hold a run of this very point.
  std::error_code ec;
  const fs::path cfg = pp.dir / "config.yaml";
  if (!fs::exists(cfg, ec)) return pp;
  std::string theirs;
  try {
    theirs = dump_without_dir(load_spec(cfg.string()));
  } catch (const Error& e) {
    theirs = std::string("(unreadable: ") + e.what() + ")\n";
  }
  if (theirs != dump)
    throw ConfigError(pp.dir.string() + " holds a run of another spec than sweep point " +
                      std::to_string(i + 1) + " (" + p.label + ") (" +
                      first_difference(dump, theirs) +
                      "); give a new --out or delete that directory; nothing was run");
  if (fs::exists(pp.dir / "summary.json", ec) && !fs::exists(pp.dir / kSweepUnfinishedMarker, ec)) {
    std::string err;
    pp.summary = read_summary_json(pp.dir / "summary.json", &err);
    if (pp.summary)
      pp.finished = true;
    else
      spdlog::warn("{}; running point {} again", err, p.id);
  }
  return pp;
}

// The report's header facts, and the command line when the caller gave none.
SweepInfo sweep_info(const SweepOptions& opt, const RunSpec& base,
                     const std::vector<GridAxis>& axes, const std::string& dir_text) {
  SweepInfo info;
  info.name = base.name;
  info.config = opt.config;
  info.dir = dir_text;
  info.sets = opt.sets;
  info.axes = axes;
  info.host = host_description();
  info.load_start = load_average();
  info.command = opt.command;
  if (info.command.empty()) {
    info.command = "mptrain sweep --config " + shell_quote(opt.config);
    for (const std::string& g : opt.grid) info.command += " --grid " + shell_quote(g);
    for (const std::string& s : opt.sets) info.command += " --set " + shell_quote(s);
    info.command += " --out " + shell_quote(dir_text);
  }
  return info;
}

// Records the points an earlier invocation finished; returns how many.
size_t record_finished(const std::vector<PlannedPoint>& plan, std::vector<PointResult>& results) {
  size_t skipped = 0;
  for (size_t i = 0; i < plan.size(); ++i) {
    if (!plan[i].finished) continue;
    PointResult& r = results[i];
    r.status = PointStatus::Ok;
    r.reused = true;
    r.summary = plan[i].summary;
    r.message = "finished by an earlier invocation of this sweep; skipped";
    spdlog::info("sweep: skipping point {}/{} {}: finished earlier ({})", i + 1, plan.size(),
                 r.point.id, (plan[i].dir / "summary.json").string());
    ++skipped;
  }
  return skipped;
}

// Trains one point in its directory and returns the run's exit code; an exception's code and
// message (current_exit_report) go into r.
int train_point(const PlannedPoint& pp, int verbosity, PointResult& r, bool& resumed) {
  try {
    std::error_code ec;
    fs::create_directories(pp.dir);
    write_file_atomic(pp.dir / kSweepUnfinishedMarker,
                      "this sweep point has not finished; running the sweep again resumes it\n");
    TrainerOptions t;
    t.run_dir = pp.dir.string();
    resumed = fs::exists(pp.dir / "checkpoints", ec);  // left by an interrupted invocation
    t.resume = resumed ? "auto" : "";
    t.verbosity = verbosity;
    Trainer trainer(pp.spec, t);
    return trainer.run();
  } catch (...) {
    const ExitReport rep = current_exit_report();
    r.message = rep.text();
    return rep.code;
  }
}

// Runs point i and records its outcome; returns 130/143 when a signal stopped it, else 0.
int run_point(const PlannedPoint& pp, size_t i, size_t total, int verbosity, PointResult& r) {
  spdlog::info("sweep: point {}/{} {} -> {}", i + 1, total, r.point.label, pp.dir.string());
  const auto t0 = Clock::now();
  bool resumed = false;
  const int rc = train_point(pp, verbosity, r, resumed);
  r.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  r.exit_code = rc;
  const bool stopped = rc == kExitSigint || rc == kExitSigterm;
  std::string err;
  if (rc == kExitOk || stopped) r.summary = read_summary_json(pp.dir / "summary.json", &err);
  if (rc == kExitOk) {
    r.status = PointStatus::Ok;
    std::error_code ec;
    fs::remove(pp.dir / kSweepUnfinishedMarker, ec);
    if (!r.summary)
      r.message = "no summary: " + err;
    else if (resumed)
      r.message =
          "resumed from its newest checkpoint; samples_per_s and wall_s cover the "
          "resumed part only";
    return 0;
  }
  if (stopped) {
    r.status = PointStatus::Interrupted;
    r.message = std::string("stopped by ") + (rc == kExitSigint ? "SIGINT" : "SIGTERM") +
                (r.summary ? " at step " + std::to_string(r.summary->steps) : "") +
                " after saving a checkpoint; run the sweep again to resume this point";
    return rc;
  }
  r.status = PointStatus::Failed;
  spdlog::error("sweep: point {} failed (exit {}): {}", r.point.id, rc, r.message);
  return 0;
}

// Prints the one-line outcome; returns the exit code of the first failed point (0 when none).
int print_outcome(const std::vector<PointResult>& results, size_t skipped, int stop_code,
                  const fs::path& dir) {
  size_t n_ok = 0, n_failed = 0;
  int first_failure = 0;
  for (const PointResult& r : results) {
    n_ok += r.status == PointStatus::Ok;
    if (r.status == PointStatus::Failed) {
      ++n_failed;
      if (first_failure == 0) first_failure = r.exit_code;
    }
  }
  std::printf(
      "sweep: %zu of %zu points ok (%zu skipped as finished earlier), %zu failed%s; report "
      "in %s\n",
      n_ok, results.size(), skipped, n_failed, stop_code ? ", interrupted" : "",
      (dir / "report.md").string().c_str());
  std::fflush(stdout);
  return first_failure;
}

}  // namespace

int run_sweep(const SweepOptions& opt) {
  // 1. Everything is checked before anything runs or is created.
  const std::vector<GridAxis> axes = parse_grid(opt.grid);
  const RunSpec base = load_spec(opt.config, opt.sets);
  for (const std::string& s : opt.sets)
    for (const GridAxis& a : axes)
      if (key_of(s) == a.key)
        spdlog::warn(
            "--set {} and --grid {}: the grid's values are applied after the --set, so "
            "they win",
            s, a.key);
  const std::string dir_text = sweep_directory(opt.out_dir, base);
  const fs::path dir(dir_text);
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw ConfigError("--out " + dir_text + ": exists and is not a directory");
  const std::vector<GridPoint> points = expand_grid(axes);
  std::vector<PlannedPoint> plan;
  std::vector<std::string> dumps;
  for (size_t i = 0; i < points.size(); ++i)
    plan.push_back(plan_point(opt, axes, points, i, dir, dumps));

  // 2. Run.
  SweepInfo info = sweep_info(opt, base, axes, dir_text);
  fs::create_directories(dir);
  remove_temp_files(dir);
  std::vector<PointResult> results(points.size());
  for (size_t i = 0; i < points.size(); ++i) results[i].point = points[i];
  const auto write_report = [&] {
    write_file_atomic(dir / "sweep.csv", sweep_csv(axes, results));
    write_file_atomic(dir / "report.md", sweep_report_md(info, results));
  };
  const size_t skipped = record_finished(plan, results);
  spdlog::info("sweep: {} points into {} ({} to run)", points.size(), dir_text,
               points.size() - skipped);
  write_report();

  int stop_code = 0;
  // Until the report is final (a Ctrl-C while plotting ends the plots only).
  SignalGuard signals(SignalPhase::BetweenRuns, kSweepNotices);
  for (size_t i = 0; i < plan.size() && stop_code == 0; ++i) {
    if (plan[i].finished) continue;
    if ((stop_code = stop_exit_code()) != 0) break;
    stop_code = run_point(plan[i], i, plan.size(), opt.verbosity, results[i]);
    if (stop_code == 0) stop_code = stop_exit_code();
    write_report();
  }

  // 3. Report and plots.
  info.finished = true;
  if (stop_code != 0) {
    info.plot_note =
        "the sweep was interrupted; run the same command again to finish it (finished "
        "points are skipped) and draw the plots";
  } else {
    const PlotOutcome plot = run_plot_script(opt.python, opt.plot_script, dir_text);
    info.plots_drawn = plot.drawn;
    info.plot_note = plot.note;
    if (!plot.drawn) spdlog::warn("sweep: no plots: {}", plot.note);
    stop_code = stop_exit_code();  // every point finished; the plotting was interrupted
  }
  info.load_end = load_average();
  write_report();

  const int first_failure = print_outcome(results, skipped, stop_code, dir);
  return stop_code != 0 ? stop_code : first_failure;
}

}  // namespace mp
