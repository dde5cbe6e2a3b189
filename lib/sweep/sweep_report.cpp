// sweep_report.cpp: sweep.csv and report.md text (formats in sweep_report.h).
#include "sweep/sweep_report.h"

#include <cstdio>

#include "core/error.h"
#include "core/text.h"

namespace mp {

namespace {

// CSV number: shortest round trip, empty for NaN/inf (no figure).
std::string csv_num(double v) { return std::isfinite(v) ? format_number(v) : ""; }

std::string md_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n' || c == '\r')
      out += ' ';
    else
      out += c;
  }
  return out;
}

std::string md_code(const std::string& s) { return "`" + md_escape(s) + "`"; }

std::string md_num(const char* f, double v) { return std::isfinite(v) ? printf_text(f, v) : "–"; }

std::string exit_code_name(int code) {
  switch (code) {
    case kExitConfig:
      return "config error";
    case kExitData:
      return "data error";
    case kExitNumerical:
      return "numerical failure";
    case kExitSigint:
      return "SIGINT";
    case kExitSigterm:
      return "SIGTERM";
    default:
      return "internal error";
  }
}

bool has_speed(const PointResult& r) {
  return r.status == PointStatus::Ok && r.summary && r.summary->samples_per_s > 0;
}

double wall_of(const PointResult& r) { return r.summary ? r.summary->wall_s : r.wall_s; }

// "policy=bf16 accum_steps=2": `p`'s values on the axes where it differs from `ref`, each named by
// the last part of its key.
std::string differing_values(const std::vector<GridAxis>& axes, const GridPoint& p,
                             const GridPoint& ref) {
  std::string out;
  for (size_t i = 0; i < p.values.size() && i < ref.values.size() && i < axes.size(); ++i) {
    if (p.values[i] == ref.values[i]) continue;
    const std::string& key = axes[i].key;
    const size_t dot = key.rfind('.');
    out += (out.empty() ? "" : " ") + (dot == std::string::npos ? key : key.substr(dot + 1)) + "=" +
           p.values[i];
  }
  return out;
}

std::string md_bytes(int64_t b) {
  const double v = static_cast<double>(b);
  if (b < 1024 * 1024) return printf_text("%.1f KiB", v / 1024.0);
  if (b < int64_t{1024} * 1024 * 1024) return printf_text("%.1f MiB", v / (1024.0 * 1024.0));
  return printf_text("%.2f GiB", v / (1024.0 * 1024.0 * 1024.0));
}

}  // namespace

const char* point_status_name(PointStatus s) {
  switch (s) {
    case PointStatus::Ok:
      return "ok";
    case PointStatus::Failed:
      return "failed";
    case PointStatus::Interrupted:
      return "interrupted";
    case PointStatus::NotRun:
      break;
  }
  return "not_run";
}

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string sweep_csv(const std::vector<GridAxis>& axes, const std::vector<PointResult>& results) {
  std::string out;
  for (const GridAxis& a : axes) out += csv_cell(a.key) + ",";
  out +=
      "status,final_train_loss,best_val_loss,final_val_accuracy,steps,skipped_steps,"
      "samples_per_s,peak_memory_bytes,wall_s,point,message\n";
  for (const PointResult& r : results) {
    for (const std::string& v : r.point.values) out += csv_cell(v) + ",";
    out += point_status_name(r.status);
    if (r.summary) {
      const Summary& s = *r.summary;
      out += "," + csv_num(s.final_train_loss) + "," + csv_num(s.best_val_loss) + "," +
             csv_num(s.final_val_accuracy) + "," + std::to_string(s.steps) + "," +
             std::to_string(s.skipped_steps) + "," + csv_num(s.samples_per_s) + "," +
             std::to_string(s.peak_memory_bytes) + "," + csv_num(s.wall_s);
    } else {
      out += ",,,,,,,," + csv_num(r.wall_s);  // 7 empty figures, then wall_s
    }
    out += "," + csv_cell(r.point.id) + "," + csv_cell(r.message) + "\n";
  }
  return out;
}

namespace {

// The list under the title: config, overrides, grid, directory, device and host, the counts.
std::string md_settings(const SweepInfo& info, const std::vector<PointResult>& results) {
  std::string md;
  size_t n_ok = 0, n_failed = 0, n_int = 0, n_not = 0, n_reused = 0;
  for (const PointResult& r : results) {
    n_ok += r.status == PointStatus::Ok;
    n_failed += r.status == PointStatus::Failed;
    n_int += r.status == PointStatus::Interrupted;
    n_not += r.status == PointStatus::NotRun;
    n_reused += r.reused;
  }

  md += "- Base config: " + md_code(info.config) + "\n";
  md += "- Overrides (`--set`, applied to every point before its grid values): ";
  if (info.sets.empty()) md += "none";
  for (size_t i = 0; i < info.sets.size(); ++i) md += (i ? ", " : "") + md_code(info.sets[i]);
  md += "\n- Grid (" + std::to_string(results.size()) + " points, first axis slowest):";
  for (const GridAxis& a : info.axes) {
    md += " " + md_code(a.key) + " =";
    for (size_t i = 0; i < a.values.size(); ++i) md += (i ? ", " : " ") + md_escape(a.values[i]);
    md += ";";
  }
  if (!info.axes.empty()) md.pop_back();
  md += "\n- Sweep directory: " + md_code(info.dir) +
        " (one run directory per point, named after its grid values)\n";
  std::string devices;
  for (const PointResult& r : results)
    if (r.summary && !r.summary->device.empty() &&
        devices.find(r.summary->device) == std::string::npos)
      devices += (devices.empty() ? "" : ", ") + r.summary->device;
  md += "- Device: " + (devices.empty() ? std::string("(no point finished)") : devices);
  if (!info.host.empty()) md += "; host: " + md_escape(info.host);
  if (!info.load_start.empty())
    md += "; load average " + info.load_start + " at the start" +
          (info.load_end.empty() ? "" : ", " + info.load_end + " at the end");
  md += "\n- Result: " + std::to_string(n_ok) + " ok, " + std::to_string(n_failed) + " failed, " +
        std::to_string(n_int) + " interrupted, " + std::to_string(n_not) + " not run";
  if (n_reused) md += " (" + std::to_string(n_reused) + " ok from an earlier invocation, skipped)";
  if (!info.finished) md += " — sweep still running";
  md += "\n- Re-run or resume (finished points are skipped): " + md_code(info.command) + "\n\n";
  return md;
}

// One row per point with its figures; `ref` is the point speed ratios compare against.
std::string md_results_table(const SweepInfo& info, const std::vector<PointResult>& results,
                             const PointResult* ref) {
  std::string md;
  md += "## Results\n\n| point |";
  for (const GridAxis& a : info.axes) md += " " + md_escape(a.key) + " |";
  md +=
      " status | final train loss | best val loss | final val acc | steps | skipped steps | "
      "samples/s | vs first | peak memory | wall s |\n|---|";
  for (size_t i = 0; i < info.axes.size(); ++i) md += "---|";
  md += "---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const PointResult& r : results) {
    md += "| " + md_code(r.point.id) + " |";
    for (const std::string& v : r.point.values) md += " " + md_escape(v) + " |";
    md += std::string(" ") + point_status_name(r.status) + (r.reused ? " (earlier)" : "") + " |";
    if (r.summary) {
      const Summary& s = *r.summary;
      md += " " + md_num("%.4g", s.final_train_loss) + " | " + md_num("%.4g", s.best_val_loss) +
            " | " + md_num("%.4f", s.final_val_accuracy) + " | " + std::to_string(s.steps) + " | " +
            std::to_string(s.skipped_steps) + " | " + md_num("%.0f", s.samples_per_s) + " | ";
      md += ref && has_speed(r) ? printf_text("%.2fx", s.samples_per_s / ref->summary->samples_per_s) : "–";
      md += " | " + md_bytes(s.peak_memory_bytes) + " | " + md_num("%.3g", s.wall_s) + " |\n";
    } else {
      md += " – | – | – | – | – | – | – | – | " + md_num("%.3g", wall_of(r)) + " |\n";
    }
  }
  return md;
}

// Each completed point's throughput relative to `ref`, naming the values that differ.
std::string md_throughput(const SweepInfo& info, const std::vector<PointResult>& results,
                          const PointResult* ref) {
  std::string md;
  md += "\n## Throughput measured in this sweep\n\n";
  if (!ref) {
    md += "No point completed with a throughput figure, so there is nothing to compare.\n";
  } else {
    const double base = ref->summary->samples_per_s;
    md +=
        "Training samples per second (summary.json `samples_per_s`: time inside training steps, "
        "without evaluation and checkpoints) of each completed point relative to the first, " +
        md_code(ref->point.label) + " (" + printf_text("%.0f", base) + " samples/s" +
        (ref->reused ? ", measured by an earlier invocation" : "") + "):\n\n";
    size_t compared = 0;
    for (const PointResult& r : results) {
      if (&r == ref || !has_speed(r)) continue;
      ++compared;
      const double sps = r.summary->samples_per_s;
      md += "- " + md_escape(differing_values(info.axes, r.point, ref->point)) + " " +
            printf_text("%.2fx", sps / base) + " " +
            md_escape(differing_values(info.axes, ref->point, r.point)) + " (" +
            md_code(r.point.label) + ": " + printf_text("%.0f", sps) + " vs " + printf_text("%.0f", base) +
            " samples/s" + (r.reused ? "; measured by an earlier invocation" : "") + ")\n";
    }
    if (compared == 0) md += "- (no other point completed)\n";
    md +=
        "\nEach figure comes from one run on this machine; on a machine shared with other work, "
        "differences of a few percent are noise.\n";
  }
  return md;
}

// The failed and interrupted points with exit code and message; "" when there are none.
std::string md_problems(const std::vector<PointResult>& results) {
  std::string md;
  bool any_problem = false;
  for (const PointResult& r : results) {
    if (r.status != PointStatus::Failed && r.status != PointStatus::Interrupted) continue;
    if (!any_problem) md += "\n## Failed and interrupted points\n\n";
    any_problem = true;
    md += "- " + md_code(r.point.id) + ": " + point_status_name(r.status) + ", exit " +
          std::to_string(r.exit_code) + " (" + exit_code_name(r.exit_code) +
          "): " + md_escape(r.message) + "\n";
  }
  return md;
}

// The plots, or why there are none.
std::string md_plots(const SweepInfo& info) {
  std::string md;
  md += "\n## Plots\n\n";
  if (!info.finished) {
    md += "Drawn when the sweep finishes.\n";
  } else if (info.plots_drawn) {
    md +=
        "Drawn by `scripts/plot_runs.py` from each point's metrics.csv and eval.csv.\n\n"
        "![train loss vs step](loss.png)\n\n![validation loss and accuracy vs step](val.png)\n\n"
        "![loss scale vs step, skipped steps marked](loss_scale.png)\n";
  } else {
    md += "No plots: " + md_escape(info.plot_note) + "\n";
  }
  return md;
}

}  // namespace

std::string sweep_report_md(const SweepInfo& info, const std::vector<PointResult>& results) {
  // The reference for speed ratios: the first point that completed with a throughput.
  const PointResult* ref = nullptr;
  for (const PointResult& r : results)
    if (has_speed(r)) {
      ref = &r;
      break;
    }
  return "# Sweep " + md_code(info.name) + "\n\n" + md_settings(info, results) +
         md_results_table(info, results, ref) + md_throughput(info, results, ref) +
         md_problems(results) + md_plots(info);
}

}  // namespace mp
