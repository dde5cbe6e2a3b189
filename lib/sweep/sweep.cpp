// sweep.cpp: the sweep runner (behaviour in sweep.h): validate every point, run them through the
// Trainer one by one, record outcomes, write sweep.csv/report.md, draw the plots.
#include "sweep/sweep.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <sstream>
#include <thread>

#include "config/output_dir.h"
#include "config/spec_dump.h"
#include "config/spec_loader.h"
#include "core/error.h"
#include "checkpoint/atomic_file.h"
#include "sweep/sweep_grid.h"
#include "sweep/sweep_plot.h"
#include "sweep/sweep_report.h"
#include "sweep/sweep_summary.h"
#include "train/trainer.h"

namespace mp {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// --- signals between points ------------------------------------------------------------------
// While a point trains, the Trainer's SignalGuard owns SIGINT/SIGTERM (and restores these handlers
// after). Between points these only note the request, so the sweep stops after the current point;
// a second SIGINT quits at once (every file the sweep writes is replaced atomically).
std::atomic<int> g_sweep_signal{0};

void say(const char* msg) {
  ssize_t ignored = ::write(STDERR_FILENO, msg, std::strlen(msg));
  (void)ignored;
}

extern "C" void on_sweep_signal(int sig) {
  int expected = 0;
  if (g_sweep_signal.compare_exchange_strong(expected, sig)) {
    say("\nmptrain sweep: stop requested: finishing the current point, then writing the report\n");
    return;
  }
  if (sig == SIGINT) {
    say("\nmptrain sweep: second interrupt: quitting now\n");
    ::_exit(kExitSigint);
  }
}

class SweepSignals {
 public:
  SweepSignals() {
    g_sweep_signal.store(0);
    install(SIGINT, old_int_);
    install(SIGTERM, old_term_);
  }
  ~SweepSignals() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  SweepSignals(const SweepSignals&) = delete;
  SweepSignals& operator=(const SweepSignals&) = delete;
  static int code() {
    const int s = g_sweep_signal.load();
    return s == SIGINT ? kExitSigint : s == SIGTERM ? kExitSigterm : 0;
  }

 private:
  static void install(int sig, struct sigaction& old) {
    struct sigaction sa {};
    sa.sa_handler = on_sweep_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    MP_CHECK(::sigaction(sig, &sa, &old) == 0,
             "sigaction failed for signal " + std::to_string(sig));
  }
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
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
  for (size_t i = 0; i < points.size(); ++i) {
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
    const fs::path cfg = pp.dir / "config.yaml";
    if (fs::exists(cfg, ec)) {
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
      if (fs::exists(pp.dir / "summary.json", ec) &&
          !fs::exists(pp.dir / kSweepUnfinishedMarker, ec)) {
        std::string err;
        pp.summary = read_summary_json(pp.dir / "summary.json", &err);
        if (pp.summary)
          pp.finished = true;
        else
          spdlog::warn("{}; running point {} again", err, p.id);
      }
    }
    plan.push_back(std::move(pp));
  }

  // 2. Run.
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

  fs::create_directories(dir);
  remove_temp_files(dir);
  std::vector<PointResult> results(points.size());
  for (size_t i = 0; i < points.size(); ++i) results[i].point = points[i];
  const auto write_report = [&] {
    write_file_atomic(dir / "sweep.csv", sweep_csv(axes, results));
    write_file_atomic(dir / "report.md", sweep_report_md(info, results));
  };

  size_t skipped = 0;
  for (size_t i = 0; i < plan.size(); ++i)
    if (plan[i].finished) {
      results[i].status = PointStatus::Ok;
      results[i].reused = true;
      results[i].summary = plan[i].summary;
      results[i].message = "finished by an earlier invocation of this sweep; skipped";
      spdlog::info("sweep: skipping point {}/{} {}: finished earlier ({})", i + 1, plan.size(),
                   points[i].id, (plan[i].dir / "summary.json").string());
      ++skipped;
    }
  spdlog::info("sweep: {} points into {} ({} to run)", points.size(), dir_text,
               points.size() - skipped);
  write_report();

  int stop_code = 0;
  SweepSignals signals;  // until the report is final (a Ctrl-C while plotting ends the plots only)
  for (size_t i = 0; i < plan.size() && stop_code == 0; ++i) {
    if (plan[i].finished) continue;
    if ((stop_code = SweepSignals::code()) != 0) break;
    PointResult& r = results[i];
    const fs::path& pdir = plan[i].dir;
    spdlog::info("sweep: point {}/{} {} -> {}", i + 1, plan.size(), points[i].label, pdir.string());
    const auto t0 = Clock::now();
    int rc = 0;
    bool resumed = false;
    try {
      fs::create_directories(pdir);
      write_file_atomic(pdir / kSweepUnfinishedMarker,
                        "this sweep point has not finished; running the sweep again resumes it\n");
      TrainerOptions t;
      t.run_dir = pdir.string();
      resumed = fs::exists(pdir / "checkpoints", ec);  // left by an interrupted invocation
      t.resume = resumed ? "auto" : "";
      t.verbosity = opt.verbosity;
      Trainer trainer(plan[i].spec, t);
      rc = trainer.run();
    } catch (const Error& e) {
      rc = e.exit_code();
      r.message = e.what();
    } catch (const std::bad_alloc&) {
      rc = kExitInternal;
      r.message = "out of memory";
    } catch (const std::exception& e) {
      rc = kExitInternal;
      r.message = std::string("internal error: ") + e.what();
    }
    r.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
    r.exit_code = rc;
    std::string err;
    if (rc == kExitOk || rc == kExitSigint || rc == kExitSigterm)
      r.summary = read_summary_json(pdir / "summary.json", &err);
    if (rc == kExitOk) {
      r.status = PointStatus::Ok;
      fs::remove(pdir / kSweepUnfinishedMarker, ec);
      if (!r.summary)
        r.message = "no summary: " + err;
      else if (resumed)
        r.message =
            "resumed from its newest checkpoint; samples_per_s and wall_s cover the "
            "resumed part only";
    } else if (rc == kExitSigint || rc == kExitSigterm) {
      r.status = PointStatus::Interrupted;
      r.message = std::string("stopped by ") + (rc == kExitSigint ? "SIGINT" : "SIGTERM") +
                  (r.summary ? " at step " + std::to_string(r.summary->steps) : "") +
                  " after saving a checkpoint; run the sweep again to resume this point";
      stop_code = rc;
    } else {
      r.status = PointStatus::Failed;
      spdlog::error("sweep: point {} failed (exit {}): {}", points[i].id, rc, r.message);
    }
    if (stop_code == 0) stop_code = SweepSignals::code();
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
    stop_code = SweepSignals::code();  // every point finished; the plotting was interrupted
  }
  info.load_end = load_average();
  write_report();

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
  if (stop_code != 0) return stop_code;
  return first_failure;
}

}  // namespace mp
