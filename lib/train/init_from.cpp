// init_from.cpp: fine-tuning start: the file's /params into the model's masters, with exclusions.
#include "train/init_from.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "checkpoint/weights_file.h"
#include "core/error.h"
#include "train/param_select.h"

namespace mp {

namespace {

bool listed(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

std::vector<std::string> init_from_differences(const std::vector<ParamShape>& model,
                                               const std::vector<ParamShape>& file,
                                               const std::vector<std::string>& excluded) {
  std::map<std::string, Shape> in_file, in_model;
  for (const ParamShape& p : file) in_file[p.name] = p.shape;
  for (const ParamShape& p : model) in_model[p.name] = p.shape;
  std::vector<std::string> out;
  for (const ParamShape& p : model) {
    if (listed(excluded, p.name)) continue;
    const auto it = in_file.find(p.name);
    if (it == in_file.end())
      out.push_back("missing from the file: " + p.name + " " + shape_str(p.shape));
    else if (it->second != p.shape)
      out.push_back(p.name + ": shape " + shape_str(it->second) + " in the file vs " +
                    shape_str(p.shape) + " in the model");
  }
  for (const ParamShape& p : file)
    if (!listed(excluded, p.name) && !in_model.count(p.name))
      out.push_back("unexpected in the file: " + p.name + " " + shape_str(p.shape));
  return out;
}

InitFromReport init_from_file(Backend& be, const ParamList& params, const std::string& path,
                              const std::vector<std::string>& exclude) {
  if (!std::filesystem::exists(path))
    throw ConfigError("train.init_from: " + path + ": no such file; give an mptrain checkpoint "
                      "(runs/<name>/checkpoints/step_*.h5), an export file or an HDF5 file with "
                      "/params/<name> datasets (a relative path resolves against the working "
                      "directory, then the spec's folder)");
  const WeightsData w = read_params_any(path);
  std::vector<ParamShape> model, file;
  std::vector<std::string> names;  // the model's and the file's, for matching the exclusions
  for (const Parameter* p : params) {
    model.push_back({p->name, p->master.shape()});
    names.push_back(p->name);
  }
  for (const CheckpointTensor& t : w.params) {
    file.push_back({t.name, t.shape});
    if (!listed(names, t.name)) names.push_back(t.name);
  }
  const std::vector<std::string> excluded = select_params(names, exclude, "train.init_exclude");
  const std::vector<std::string> diffs = init_from_differences(model, file, excluded);
  if (!diffs.empty()) {
    std::string msg = "train.init_from: " + path + " does not fit the model (" +
                      std::to_string(diffs.size()) + " difference" + (diffs.size() == 1 ? "" : "s") + "):";
    for (const std::string& d : diffs) msg += "\n  " + d;
    msg += "\nlist parameters that should keep their initialiser (a new head) in train.init_exclude, "
           "or use the model spec of the run that wrote the file (a checkpoint's or export file's "
           "`config` attribute)";
    throw ConfigError(msg);
  }
  InitFromReport r;
  r.path = path;
  r.stored_dtype = std::string(dtype_name(w.dtype));
  for (Parameter* p : params) {
    if (listed(excluded, p->name)) {
      r.excluded.push_back(p->name);
      continue;
    }
    const auto t = std::find_if(w.params.begin(), w.params.end(),
                                [&](const CheckpointTensor& c) { return c.name == p->name; });
    // Masters from the (exactly widened) fp32 values; working copies re-cast from the masters.
    set_parameter_values(be, *p, from_host_floats(be, t->values, t->shape, DType::F32));
    ++r.loaded;
    r.loaded_values += p->master.numel();
  }
  return r;
}

std::string init_from_log_line(const InitFromReport& r, size_t model_params) {
  std::string s = "init_from " + r.path + " (" + r.stored_dtype + "): " + std::to_string(r.loaded) +
                  " of " + std::to_string(model_params) + " parameter tensors (" +
                  std::to_string(r.loaded_values) + " values) loaded";
  if (!r.excluded.empty()) {
    s += "; kept at their initialiser (init_exclude): ";
    for (size_t i = 0; i < r.excluded.size(); ++i) s += (i ? ", " : "") + r.excluded[i];
  }
  return s + "; optimizer, loss scale, data position and step start fresh";
}

}  // namespace mp
