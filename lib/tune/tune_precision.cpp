// tune_precision.cpp: the probes and decisions of `mptrain tune-precision` (tune_precision.h).
#include "tune/tune_precision.h"

#include <spdlog/spdlog.h>
#include <stdlib.h>  // mkdtemp

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "backend/backend.h"
#include "config/spec_dump.h"
#include "core/error.h"
#include "core/text.h"
#include "precision/dtype_policy.h"

namespace mp {

namespace fs = std::filesystem;

namespace {

std::string dname(DType d) { return std::string(dtype_name(d)); }

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// The scratch folder every probe runs in; removed however tuning ends.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (fs::temp_directory_path() / "mptrain_tune_XXXXXX").string();
    if (!mkdtemp(tmpl.data()))
      throw DataError("tune-precision: cannot create a scratch folder " + tmpl +
                      " for the probe runs; set TMPDIR to a writable folder");
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

CandidateReport tune_candidate(const TuneOptions& opt, DType d, const std::vector<ProbeStep>& ref_steps,
                               const std::vector<LayerStats>& ref, double ref_grad_max,
                               const fs::path& scratch) {
  CandidateReport c;
  c.dtype = d;
  c.probe_scale = probe_loss_scale(d, ref_grad_max, opt.spec.precision.loss_scale);
  const std::vector<std::string>& own = opt.spec.precision.fp32_layers;
  for (const LayerStats& r : ref) c.decisions.push_back({r.layer, false, ""});
  ProbeResult probe;
  for (int round = 0;; ++round) {
    const ProbeConfig pc{d, c.fp32_layers, c.probe_scale, opt.steps};
    spdlog::info("tune-precision: probe {} {}{}", dname(d),
                 c.fp32_layers.empty() ? "" : "with fp32 layers [" + join(c.fp32_layers) + "] ",
                 d == DType::F16 ? "at loss scale " + printf_text("%.10g", c.probe_scale) : "");
    probe = run_probe(opt.spec, pc, scratch / (dname(d) + "_" + std::to_string(round)),
                      opt.verbosity);
    ++c.probes;
    const std::vector<LayerStats> stats = layer_stats(probe.rows, probe.steps);
    if (round == 0) c.first = stats;
    c.last = stats;
    if (round + 1 == kMaxTuneRounds) break;
    std::vector<std::string> kept = own;
    kept.insert(kept.end(), c.fp32_layers.begin(), c.fp32_layers.end());
    bool added = false;
    const auto decided = decide_fp32_layers(d, ref, stats, forward_overflowed(probe.rows), kept);
    for (size_t i = 0; i < decided.size(); ++i) {
      LayerDecision& mine = c.decisions[i];
      if (contains(kept, decided[i].layer)) {
        if (mine.reason.empty()) mine = {decided[i].layer, true, "fp32 in the spec"};
        continue;
      }
      mine = decided[i];
      if (decided[i].fp32) {
        c.fp32_layers.push_back(decided[i].layer);
        added = true;
      }
    }
    if (!added) break;
  }
  c.exit_code = probe.exit_code;
  c.failure = probe.error;
  c.forward_overflow = forward_overflowed(probe.rows);
  c.curve = compare_loss_curves(ref_steps, probe.steps);
  if (d == DType::F16) c.scale_init = recommended_scale_init(probe.steps);
  c.pass = c.exit_code == 0 && !c.forward_overflow && c.curve.pass;
  return c;
}

// The spec with the recommended precision section: `c` null = fp32.
RunSpec recommended_spec(const RunSpec& base, const CandidateReport* c) {
  RunSpec s = base;
  PrecisionSpec& p = s.precision;
  p.policy = c ? dname(c->dtype) : "fp32";
  if (c)
    for (const std::string& l : c->fp32_layers)
      if (!contains(p.fp32_layers, l)) p.fp32_layers.push_back(l);
  p.loss_scale.mode = c && c->dtype == DType::F16 ? "dynamic" : "none";
  if (c && c->scale_init) p.loss_scale.init = *c->scale_init;
  return s;
}

// A fixed-width text table: the first row is the header.
std::string text_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i)
      line += i + 1 == row.size() ? row[i] : row[i] + std::string(width[i] - row[i].size() + 2, ' ');
    out += "  " + line + "\n";
  }
  return out;
}

const LayerStats* find_stats(const std::vector<LayerStats>& v, const std::string& name) {
  for (const LayerStats& s : v)
    if (s.layer == name) return &s;
  return nullptr;
}

std::string candidate_table(const TuneReport& r, const CandidateReport& c) {
  std::vector<std::vector<std::string>> rows = {
      {"layer", "dtype", "act_max_abs", "overflow_frac", "grad_underflow_frac", "reason"}};
  for (size_t i = 0; i < r.ref.size(); ++i) {
    const LayerStats& ref = r.ref[i];
    const LayerStats* first = find_stats(c.first, ref.layer);
    const LayerStats* last = find_stats(c.last, ref.layer);
    const bool fp32 = c.decisions[i].fp32 || (last && last->dtype == DType::F32);
    rows.push_back(
        {ref.layer, fp32 ? "fp32" : dname(c.dtype), printf_text("%.5g", ref.act_max_abs),
         first ? printf_text("%.3g", first->act_overflow_frac) : "-",
         last && last->grad_underflow_frac ? printf_text("%.3g", *last->grad_underflow_frac) : "-",
         c.decisions[i].reason});
  }
  return text_table(rows);
}

}  // namespace

std::vector<DType> parse_candidates(const std::string& list) {
  const std::string help = "; expected a comma-separated list of bf16, fp16 (e.g. --candidates "
                           "bf16,fp16; fp32 is the reference and always runs)";
  std::vector<DType> out;
  std::stringstream in(list);
  std::string name;
  while (std::getline(in, name, ',')) {
    const auto d = parse_policy_dtype(name);
    if (!d || *d == DType::F32)
      throw ConfigError("--candidates " + list + ": unknown candidate \"" + name + "\"" + help);
    if (std::find(out.begin(), out.end(), *d) != out.end())
      throw ConfigError("--candidates " + list + ": " + name + " is listed twice" + help);
    out.push_back(*d);
  }
  if (out.empty() || list.back() == ',')
    throw ConfigError("--candidates \"" + list + "\": empty candidate" + help);
  return out;
}

TuneReport tune_precision(const TuneOptions& opt) {
  if (opt.steps < 1)
    throw ConfigError("--steps " + std::to_string(opt.steps) +
                      ": a probe needs at least 1 step (e.g. --steps 50)");
  TuneReport rep;
  NativeLowPrecision caps;
  {
    const auto be = make_backend({opt.spec.device, static_cast<int>(opt.spec.threads),
                                  opt.spec.precision.allow_tf32});
    rep.device = be->name();
    caps = be->native_low_precision();
  }
  const AutoPolicy a = choose_auto_policy(caps);
  rep.device_note = "policy auto picks " + dname(a.compute) + " here: " + a.reason;
  ScratchDir scratch;
  spdlog::info("tune-precision: fp32 reference probe, {} steps", opt.steps);
  const ProbeResult ref = run_probe(opt.spec, {DType::F32, {}, 1.0, opt.steps},
                                    scratch.path() / "fp32", opt.verbosity);
  if (ref.exit_code != 0)
    throw NumericalError("tune-precision: the fp32 reference probe failed, so there is nothing to "
                         "compare the candidates with: " + ref.error);
  rep.ref_steps = ref.steps;
  rep.ref = layer_stats(ref.rows, ref.steps);
  const double grad_max = max_grad_abs(ref.rows);
  for (DType d : preference_order(opt.candidates, caps))
    rep.candidates.push_back(tune_candidate(opt, d, ref.steps, rep.ref, grad_max, scratch.path()));
  for (size_t i = 0; i < rep.candidates.size() && rep.chosen < 0; ++i)
    if (rep.candidates[i].pass) rep.chosen = static_cast<int>(i);
  rep.recommended = recommended_spec(
      opt.spec, rep.chosen >= 0 ? &rep.candidates[static_cast<size_t>(rep.chosen)] : nullptr);
  return rep;
}

std::string tune_report_text(const TuneReport& r) {
  std::string out = "device: " + r.device + " (" + r.device_note + ")\n";
  const double last = r.ref_steps.empty() ? NAN : r.ref_steps.back().loss;
  out += "fp32 reference: " + std::to_string(r.ref_steps.size()) + " steps, final loss " +
         printf_text("%.6g", last) + "\n";
  std::string order;
  for (const CandidateReport& c : r.candidates) {
    order += (order.empty() ? "" : ", ") + dname(c.dtype);
    out += "\ncandidate " + dname(c.dtype);
    if (c.dtype == DType::F16) out += " (probe loss scale " + printf_text("%.10g", c.probe_scale) + ")";
    out += ": " + std::to_string(c.probes) + " probe" + (c.probes == 1 ? "" : "s") +
           ", fp32 layers [" + join(c.fp32_layers) + "] -> ";
    if (c.pass)
      out += "passes: loss within " + printf_text("%.3g", c.curve.mean_rel_dev) +
             " of fp32 on average (max " + printf_text("%.3g", c.curve.max_rel_dev) +
             "; tolerance " + num_text(kLossRelTolerance) + ")";
    else if (c.exit_code != 0)
      out += "fails: its last probe stopped (exit " + std::to_string(c.exit_code) + "): " +
             c.failure.substr(0, c.failure.find(':') == std::string::npos ? c.failure.size()
                                                                          : c.failure.find(':'));
    else if (c.forward_overflow)
      out += "fails: its forward pass still overflows " + dname(c.dtype);
    else
      out += "fails: " + c.curve.why;
    out += "\n" + candidate_table(r, c);
  }
  out += "\n";
  if (r.chosen >= 0) {
    const CandidateReport& c = r.candidates[static_cast<size_t>(r.chosen)];
    out += "recommended: " + dname(c.dtype) + " (the first passing candidate in this device's "
           "order: " + order + ")";
    if (c.scale_init)
      out += ", loss_scale.init " + printf_text("%.10g", *c.scale_init) +
             " (the largest scale of a probe step without overflow)";
  } else {
    out += "recommended: fp32 (" +
           std::string(r.candidates.empty() ? "no candidate" : "no candidate passed") + ")";
  }
  return out + "\n" + precision_section_yaml(r.recommended);
}

std::string precision_section_yaml(const RunSpec& spec) {
  std::istringstream in(dump_spec(spec));
  std::string line, out;
  bool inside = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != ' ' && line[0] != '#') inside = line.rfind("precision:", 0) == 0;
    if (inside) out += line + "\n";
  }
  return out;
}

}  // namespace mp
