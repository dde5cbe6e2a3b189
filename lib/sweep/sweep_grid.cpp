// sweep_grid.cpp: --grid parsing, the cartesian product and point ids (rules in sweep_grid.h).
#include "sweep/sweep_grid.h"

#include <cstdint>
#include <cstdio>
#include <set>

#include "core/error.h"

namespace mp {

namespace {

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// FNV-1a, 32 bits: a short stable tag for ids that had to be cut.
std::string hash8(const std::string& s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", h);
  return buf;
}

constexpr size_t kMaxIdLength = 150;
constexpr size_t kCutIdLength = 140;

}  // namespace

std::string sanitize_id_part(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '+' || c == '-';
    out += ok ? c : '_';
  }
  return out;
}

GridAxis parse_grid_axis(const std::string& arg) {
  const std::string where = "--grid " + arg + ": ";
  const size_t eq = arg.find('=');
  if (eq == std::string::npos)
    throw ConfigError(where + "expected KEY=V1,V2,... (e.g. --grid precision.policy=fp32,bf16)");
  GridAxis axis;
  axis.key = trim(arg.substr(0, eq));
  if (axis.key.empty())
    throw ConfigError(where + "the key before '=' is empty (e.g. --grid train.accum_steps=1,4)");
  const std::string list = arg.substr(eq + 1);
  size_t start = 0;
  while (true) {
    const size_t comma = list.find(',', start);
    const std::string v =
        trim(list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (v.empty())
      throw ConfigError(where + "empty value" +
                        (list.empty() ? std::string(" list") : " in the list") +
                        "; give comma-separated YAML scalars (a value cannot contain a comma; put "
                        "lists and maps in the config or a --set)");
    for (const std::string& seen : axis.values)
      if (seen == v) throw ConfigError(where + "the value " + v + " appears twice");
    axis.values.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return axis;
}

std::vector<GridAxis> parse_grid(const std::vector<std::string>& args) {
  if (args.empty())
    throw ConfigError(
        "--grid is required: give at least one axis (e.g. mptrain sweep --config "
        "run.yaml --grid precision.policy=fp32,bf16)");
  std::vector<GridAxis> axes;
  for (const std::string& a : args) {
    GridAxis axis = parse_grid_axis(a);
    for (const GridAxis& other : axes)
      if (other.key == axis.key)
        throw ConfigError("--grid " + a + ": the key " + axis.key +
                          " already has a --grid; give all its values in one --grid");
    axes.push_back(std::move(axis));
  }
  return axes;
}

std::vector<GridPoint> expand_grid(const std::vector<GridAxis>& axes) {
  std::vector<GridPoint> points;
  if (axes.empty()) return points;
  size_t total = 1;
  for (const GridAxis& a : axes) total *= a.values.size();
  std::vector<size_t> idx(axes.size(), 0);
  for (size_t n = 0; n < total; ++n) {
    GridPoint p;
    std::string full;  // unsanitised key=value text, for the hash of a cut id
    for (size_t i = 0; i < axes.size(); ++i) {
      const std::string& v = axes[i].values[idx[i]];
      p.values.push_back(v);
      p.overrides.push_back(axes[i].key + "=" + v);
      if (i > 0) {
        p.id += "_";
        p.label += ", ";
        full += ",";
      }
      p.id += sanitize_id_part(axes[i].key) + "-" + sanitize_id_part(v);
      p.label += axes[i].key + "=" + v;
      full += axes[i].key + "=" + v;
    }
    if (p.id.size() > kMaxIdLength) p.id = p.id.substr(0, kCutIdLength) + "-" + hash8(full);
    points.push_back(std::move(p));
    // Odometer: the last axis moves fastest.
    for (size_t i = axes.size(); i-- > 0;) {
      if (++idx[i] < axes[i].values.size()) break;
      idx[i] = 0;
    }
  }
  // Unique ids: a repeat gets the first free "-N" suffix, never one another point has.
  std::set<std::string> all;
  for (const GridPoint& p : points) all.insert(p.id);
  std::set<std::string> used;
  for (GridPoint& p : points) {
    if (used.count(p.id)) {
      for (int k = 2;; ++k) {
        const std::string c = p.id + "-" + std::to_string(k);
        if (!all.count(c) && !used.count(c)) {
          p.id = c;
          break;
        }
      }
    }
    used.insert(p.id);
  }
  return points;
}

}  // namespace mp
