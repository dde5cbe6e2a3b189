// resume_check.cpp: the stored spec against the spec about to resume, key by key.
#include "checkpoint/resume_check.h"

#include <algorithm>
#include <cstdlib>

#include "checkpoint/checkpoint_compat.h"
#include "checkpoint/resume_keys.h"
#include "config/spec_loader.h"
#include "config/spec_values.h"
#include "core/error.h"

namespace mp {

namespace {

struct Refused {
  std::string key, before, after;
  std::string_view why;
};

constexpr size_t kMaxLayerLines = 6;

// model.layers differs: one line per differing layer index, so a long model names the layer.
void layer_differences(const RunSpec& ck, const RunSpec& now, std::string_view why,
                       std::vector<Refused>& out) {
  const auto& a = ck.model.layers;
  const auto& b = now.model.layers;
  size_t listed = 0;
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    const std::string ta = i < a.size() ? layer_value_text(a[i]) : "(no layer)";
    const std::string tb = i < b.size() ? layer_value_text(b[i]) : "(no layer)";
    if (ta == tb) continue;
    if (++listed > kMaxLayerLines) break;
    out.push_back({"model.layers." + std::to_string(i), ta, tb, why});
  }
}

RunSpec stored_spec(const CheckpointData& ck, const std::string& path) {
  try {
    return load_spec_from_string(ck.config_text, path + " (its config attribute)");
  } catch (const ConfigError& e) {
    throw DataError("checkpoint " + path +
                    ": the run spec stored in it (its config attribute) does not load: " + e.what() +
                    "; it was written by another mptrain version (its mptrain_version attribute "
                    "says " + ck.mptrain_version + ") or edited: resume with that version or start a new run");
  }
}

std::vector<Refused> refused_differences(const RunSpec& ck, const RunSpec& now,
                                        int64_t ck_world, int64_t world) {
  const std::vector<SpecValue> a = spec_values(ck), b = spec_values(now);
  MP_CHECK(a.size() == b.size(), "spec_values gave different key lists for two specs");
  std::vector<Refused> out;
  for (size_t i = 0; i < a.size(); ++i) {
    const ResumeKey* k = find_resume_key(a[i].path);
    MP_CHECK(k != nullptr, "key " + a[i].path + " has no entry in the resume_keys table");
    if (!resume_change_refused(*k, a[i].text, b[i].text)) continue;
    if (k->rule == ResumeRule::Global && ck_world != world &&
        std::strtoll(a[i].text.c_str(), nullptr, 10) * ck_world ==
            std::strtoll(b[i].text.c_str(), nullptr, 10) * world)
      continue;
    if (a[i].path == "model.layers")
      layer_differences(ck, now, k->why, out);
    else
      out.push_back({a[i].path, a[i].text, b[i].text, k->why});
  }
  return out;
}

std::string sentence(const Refused& r) {
  return "written with " + r.key + ": " + r.before + ", the spec says " + r.key + ": " + r.after +
         "; " + r.key + " cannot change on resume (" + std::string(r.why) + ")";
}

}  // namespace

void check_resume(const CheckpointData& ck, const std::string& path, const RunSpec& spec,
                  const DTypePolicy& policy, const std::string& model_signature,
                  int64_t world_size) {
  check_signature_consistent(ck, path);  // a damaged file is a data error before anything else
  if (auto it = ck.extra_ints.find("state_layout_version");
      it != ck.extra_ints.end() && (it->second < 1 || it->second > kStateLayoutVersion))
    throw DataError("checkpoint " + path + ": its state_layout_version attribute is " +
                    std::to_string(it->second) + ", this mptrain reads layouts 1.." +
                    std::to_string(kStateLayoutVersion) +
                    " (use the mptrain version named by its mptrain_version attribute)");
  if (!ck.config_text.empty()) {
    const std::vector<Refused> diffs =
        refused_differences(stored_spec(ck, path), spec, checkpoint_world_size(ck), world_size);
    if (!diffs.empty()) {
      const bool one = diffs.size() == 1;
      std::string msg = "resume: checkpoint " + path;
      std::vector<std::string> lines;
      if (one) {
        msg += " was " + sentence(diffs[0]) + ".";
      } else {
        msg += " differs from the spec in " + std::to_string(diffs.size()) +
               " keys that cannot change on resume:";
        for (const Refused& r : diffs) lines.push_back(sentence(r));
      }
      const auto params = signature_differences(ck.model_signature, model_signature);
      if (!params.empty()) lines.push_back("so the model's parameters differ:");
      for (const auto& p : params) lines.push_back("  " + p);
      for (const auto& l : lines) msg += "\n  " + l;
      msg += std::string(lines.empty() ? " " : "\n") +
             "Start a new run (a different output.dir, or --out DIR) or restore the " +
             (one ? "value" : "values") +
             "; configs/REFERENCE.md \"Resuming a run\" lists the keys that may change.";
      throw ConfigError(msg);
    }
  }
  check_compatible(ck, path, model_signature, policy.compute);
}

int64_t checkpoint_world_size(const CheckpointData& ck) {
  const auto it = ck.extra_ints.find("world_size");
  return it == ck.extra_ints.end() ? 1 : it->second;
}

LoaderCursor resume_cursor(const CheckpointData& ck, const std::string& path, const RunSpec& spec,
                           int64_t world_size) {
  const int64_t ck_world = checkpoint_world_size(ck);
  if (ck_world < 1)
    throw DataError("checkpoint " + path + ": its world_size attribute is " +
                    std::to_string(ck_world) + ", expected a number of ranks >= 1");
  const int64_t b = ck.batch_in_epoch;
  const int64_t ck_batch = ck.config_text.empty() ? spec.data.batch_size
                                                  : stored_spec(ck, path).data.batch_size;
  const int64_t before = ck_batch * ck_world, now = spec.data.batch_size * world_size;
  if (b == 0 || before == now) return {ck.epoch, b};
  const int64_t consumed = b * before;
  if (consumed % now == 0) return {ck.epoch, consumed / now};
  const auto ranks = [](int64_t n) { return std::to_string(n) + (n == 1 ? " rank" : " ranks"); };
  throw ConfigError(
      "resume: checkpoint " + path + " stopped after batch " + std::to_string(b) + " of epoch " +
      std::to_string(ck.epoch) + ", i.e. " + std::to_string(consumed) + " samples into it (" +
      ranks(ck_world) + " x data.batch_size " + std::to_string(ck_batch) + " = " +
      std::to_string(before) + " per batch); this run takes " + std::to_string(now) +
      " per batch (" + ranks(world_size) + " x " + std::to_string(spec.data.batch_size) +
      "), which does not divide " + std::to_string(consumed) +
      ", so the epoch could not go on with each sample seen once. Resume with " + ranks(ck_world) +
      ", or a world size and data.batch_size whose product divides " + std::to_string(consumed) +
      ", or from a checkpoint at an epoch boundary");
}

std::string finished_run_message(int64_t checkpoint_step, int64_t total_steps, const RunSpec& spec) {
  const std::string limit = spec.train.steps > 0
                                ? "train.steps: " + std::to_string(spec.train.steps)
                                : "train.epochs: " + std::to_string(spec.train.epochs) + " = " +
                                      std::to_string(total_steps) + " steps";
  return "run already finished at step " + std::to_string(checkpoint_step) + " (" + limit +
         "); nothing to do - raise " + (spec.train.steps > 0 ? "train.steps" : "train.epochs") +
         " to continue";
}

}  // namespace mp
