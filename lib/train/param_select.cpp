// param_select.cpp: name/prefix matching for optimizer.freeze and train.init_exclude.
#include "train/param_select.h"

#include <algorithm>

#include "config/did_you_mean.h"
#include "core/error.h"

namespace mp {

bool param_matches(std::string_view name, std::string_view entry) {
  if (entry.empty()) return false;
  if (entry.back() == '*') return name.substr(0, entry.size() - 1) == entry.substr(0, entry.size() - 1);
  return name == entry || (name.size() > entry.size() && name.substr(0, entry.size()) == entry &&
                           name[entry.size()] == '.');
}

std::vector<std::string> select_params(const std::vector<std::string>& names,
                                       const std::vector<std::string>& entries,
                                       const std::string& key) {
  std::vector<std::string> out, unmatched;
  for (const std::string& e : entries)
    if (std::none_of(names.begin(), names.end(), [&](const std::string& n) { return param_matches(n, e); }))
      unmatched.push_back(e);
  if (!unmatched.empty()) {
    // Candidates for the suggestion and the listing: every layer name (each dotted prefix of a
    // parameter name) and the parameter names themselves.
    std::vector<std::string> layers;
    for (const std::string& n : names)
      for (size_t dot = n.find('.'); ; dot = n.find('.', dot + 1)) {
        const std::string prefix = dot == std::string::npos ? n : n.substr(0, dot);
        if (std::find(layers.begin(), layers.end(), prefix) == layers.end()) layers.push_back(prefix);
        if (dot == std::string::npos) break;
      }
    std::string msg = key + ": ";
    for (size_t i = 0; i < unmatched.size(); ++i)
      msg += (i ? ", \"" : "\"") + unmatched[i] + "\"" + did_you_mean(unmatched[i], layers);
    msg += unmatched.size() == 1 ? " matches no parameter of the model"
                                 : " match no parameter of the model";
    msg += "; an entry is a parameter name, a layer name (\"fc1\" selects fc1.weight and fc1.bias) "
           "or a prefix ending in * (\"fc*\"); the parameters are: " + join(names);
    throw ConfigError(msg);
  }
  for (const std::string& n : names)
    if (std::any_of(entries.begin(), entries.end(), [&](const std::string& e) { return param_matches(n, e); }))
      out.push_back(n);
  return out;
}

}  // namespace mp

namespace mp {

std::vector<std::string> param_names(const ParamList& params) {
  std::vector<std::string> out;
  for (const Parameter* p : params) out.push_back(p->name);
  return out;
}

std::vector<std::string> freeze_params(const ParamList& params, const std::vector<std::string>& entries) {
  const std::vector<std::string> names = select_params(param_names(params), entries, "optimizer.freeze");
  if (!names.empty() && names.size() == params.size())
    throw ConfigError("optimizer.freeze: [" + join(entries) + "] freezes every parameter of the "
                      "model, so there is nothing to train; freeze fewer layers (mptrain eval "
                      "evaluates a model without training it)");
  for (Parameter* p : params)
    if (std::find(names.begin(), names.end(), p->name) != names.end()) freeze_parameter(*p);
  return names;
}

}  // namespace mp
