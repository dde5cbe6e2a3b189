// checkpoint_compat.cpp: model signatures and the resume compatibility check.
#include "checkpoint/checkpoint_compat.h"

#include <map>
#include <sstream>

#include "core/error.h"
#include "precision/dtype_policy.h"

namespace mp {

namespace {

struct SigEntry {
  std::string key, value;
};

std::vector<SigEntry> parse_signature(const std::string& sig) {
  std::vector<SigEntry> out;
  std::istringstream in(sig);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    size_t sp = line.find(' ');
    if (sp == std::string::npos)
      out.push_back({line, ""});
    else
      out.push_back({line.substr(0, sp), line.substr(sp + 1)});
  }
  return out;
}

std::string show(const std::string& value) { return value.empty() ? "(no value)" : value; }

}  // namespace

std::string make_model_signature(const std::vector<ParamShape>& params) {
  std::string s;
  for (const auto& p : params) s += p.name + " " + shape_str(p.shape) + "\n";
  return s;
}

std::string make_model_signature(const ParamList& params) {
  std::vector<ParamShape> shapes;
  shapes.reserve(params.size());
  for (const Parameter* p : params)
    shapes.push_back({p->name, p->master.defined() ? p->master.shape() : p->working.shape()});
  return make_model_signature(shapes);
}

std::vector<std::string> signature_differences(const std::string& checkpoint_sig,
                                               const std::string& model_sig, size_t max_lines) {
  const auto ck = parse_signature(checkpoint_sig);
  const auto mo = parse_signature(model_sig);
  std::map<std::string, std::string> ck_map, mo_map;
  for (const auto& e : ck) ck_map[e.key] = e.value;
  for (const auto& e : mo) mo_map[e.key] = e.value;

  std::vector<std::string> diffs;
  for (const auto& e : ck) {  // checkpoint order first: differing and missing-from-model entries
    auto it = mo_map.find(e.key);
    if (it == mo_map.end())
      diffs.push_back(e.key + " " + show(e.value) + ": in the checkpoint, not in the model");
    else if (it->second != e.value)
      diffs.push_back(e.key + ": the checkpoint has " + show(e.value) + ", the model has " +
                      show(it->second));
  }
  for (const auto& e : mo)
    if (!ck_map.count(e.key))
      diffs.push_back(e.key + " " + show(e.value) + ": in the model, not in the checkpoint");
  if (diffs.size() > max_lines) {
    size_t rest = diffs.size() - max_lines;
    diffs.resize(max_lines);
    diffs.push_back("... and " + std::to_string(rest) + " more");
  }
  return diffs;
}

void check_signature_consistent(const CheckpointData& ckpt, const std::string& checkpoint_path) {
  // The stored signature must describe the stored tensors, or the comparison below means nothing.
  const std::string stored = make_model_signature([&] {
    std::vector<ParamShape> v;
    for (const auto& p : ckpt.params) v.push_back({p.name, p.shape});
    return v;
  }());
  std::map<std::string, std::string> data_shapes;
  for (const auto& e : parse_signature(stored)) data_shapes[e.key] = e.value;
  for (const auto& e : parse_signature(ckpt.model_signature)) {
    if (e.value.empty() || e.value.front() != '[') continue;  // not a parameter line
    auto it = data_shapes.find(e.key);
    if (it == data_shapes.end() || it->second != e.value)
      throw DataError("checkpoint " + checkpoint_path +
                      " is inconsistent: its model_signature lists " + e.key + " " + e.value +
                      " but /params/" + e.key +
                      (it == data_shapes.end() ? " is missing" : " has shape " + it->second) +
                      "; the file is damaged or was edited: resume from another checkpoint");
  }
}

void check_same_model(const std::string& stored_signature, const std::string& path,
                      const std::string& model_signature, bool for_eval) {
  auto diffs = signature_differences(stored_signature, model_signature);
  if (diffs.empty()) return;
  std::string msg = std::string(for_eval ? "cannot evaluate " : "cannot resume from checkpoint ") +
                    path + ": it was written for a different model:";
  for (const auto& d : diffs) msg += "\n  " + d;
  msg += for_eval
             ? "\nevaluate with the model spec of the run that wrote it (its resolved config is "
               "stored in the file's `config` attribute and in the run's config.yaml)"
             : "\nresume with the model spec of the run that wrote it (its resolved config is stored "
               "in the checkpoint's `config` attribute and in the run's config.yaml), or start a new "
               "run directory (--out DIR) to train this model from scratch";
  throw ConfigError(msg);
}

void check_compatible(const CheckpointData& ckpt, const std::string& checkpoint_path,
                      const std::string& model_signature, DType policy_compute) {
  check_signature_consistent(ckpt, checkpoint_path);
  check_same_model(ckpt.model_signature, checkpoint_path, model_signature, false);
  // The file stores the policy by name; compare it as a dtype (an unknown name differs from all).
  if (parse_policy_dtype(ckpt.policy) != policy_compute) {
    const std::string policy(dtype_name(policy_compute));
    throw ConfigError("cannot resume from checkpoint " + checkpoint_path +
                      ": it was written with precision.policy=" + ckpt.policy +
                      " but this run uses precision.policy=" + policy +
                      "; resume with --set precision.policy=" + ckpt.policy +
                      ", or start a new run directory (--out DIR) for the " + policy + " run");
  }
}

}  // namespace mp
