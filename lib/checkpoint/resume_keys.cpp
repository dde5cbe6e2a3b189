// resume_keys.cpp: the resume classification of every run-spec key (see resume_keys.h).
#include "checkpoint/resume_keys.h"

#include <cstdlib>

#include "config/spec_keys.h"

namespace mp {

namespace {

using enum ResumeRule;

constexpr std::string_view kCursor =
    "the checkpoint's data cursor (epoch, batch) points into the batches it defines";

}  // namespace

const std::vector<ResumeKey>& resume_keys() {
  static const std::vector<ResumeKey> table = {
      {"name", Free, "it only names the run"},
      {"seed", Fixed,
       "it fixes the shuffling order and the dropout stream the checkpoint is positioned in"},
      {"device", Free, "the state is stored as fp32 on the host; CPU and GPU results are not bit-identical"},
      {"threads", Free, "speed only"},
      {"data.format", Fixed, kCursor},
      {"data.context", Fixed, kCursor},
      {"data.file", Fixed, kCursor},
      {"data.train", Fixed, kCursor},
      {"data.val", Free, "evaluation only (the best_val_loss carried over was measured on the old split)"},
      {"data.input_scale", Fixed, "the weights were trained on inputs scaled by it"},
      {"data.batch_size", Global,
       "the checkpoint's data cursor counts batches of data.batch_size x world size samples (its "
       "world_size attribute); another number of ranks may change it so that the product stays "
       "the same"},
      {"data.shuffle", Fixed, kCursor},
      {"data.drop_last", Fixed, kCursor},
      {"data.in_memory", Free, "how the data is read, not which"},
      {"data.prefetch", Free, "how the data is read, not which"},
      {"data.check_finite", Free, "how the data is read, not which"},
      {"model", Fixed, "the stored parameters and optimizer state are laid out for this model"},
      {"precision.policy", Fixed,
       "the stored loss-scaler state belongs to its scaling regime (fp16: dynamic, fp32/bf16: none), "
       "and with master_weights: none the stored weights carry its rounding; `auto` is compared as "
       "the device resolved it"},
      {"precision.master_weights", Fixed,
       "it decides whether the stored weights are fp32 masters or low-precision values"},
      {"precision.allow_tf32", Free, "arithmetic of later steps only"},
      {"precision.fp32_layers", Fixed,
       "like model.layers' per-layer precision: with master_weights: none the stored weights carry it"},
      {"precision.allreduce_dtype", Free, "arithmetic of later steps only"},
      {"precision.telemetry_every", Free, "logging only"},
      {"precision.loss_scale", Free,
       "tuning of later scale updates; the stored scale and counters carry over (a static value "
       "replaces the stored scale)"},
      {"precision.loss_scale.mode", Fixed,
       "the stored loss-scaler state (scale, growth and hysteresis counters) belongs to this mode"},
      {"optimizer", Free, "hyperparameters of later updates; the optimizer state keeps its meaning"},
      {"optimizer.type", Fixed, "the stored optimizer state (/optimizer/<slot>) belongs to this optimizer"},
      {"optimizer.freeze", Fixed,
       "frozen parameters have no optimizer state in the checkpoint (and the others' state was "
       "built without them)"},
      {"optimizer.momentum", OnOff,
       "sgd keeps a momentum buffer only when momentum > 0; other changes are free"},
      {"schedule", Free, "the lr is recomputed every step from the applied-step count"},
      {"train.steps", Free, "where the run ends; raise it to continue a finished run"},
      {"train.epochs", Free, "where the run ends; raise it to continue a finished run"},
      {"train.accum_steps", Fixed,
       "the step count, the data cursor and the schedule position count optimizer steps of this "
       "many micro-batches"},
      {"train.log_every", Free, "what is written, not what is trained"},
      {"train.eval_every", Free, "what is written, not what is trained"},
      {"train.checkpoint_every", Free, "what is written, not what is trained"},
      {"train.keep_checkpoints", Free, "what is written, not what is trained"},
      {"train.init_from", Free,
       "only the start of a fresh run reads it; a resumed run restores its checkpoint instead"},
      {"train.init_exclude", Free, "only the start of a fresh run reads it"},
      {"train.cuda_graph", Free, "how the ops are launched, not what they compute"},
      {"output", Free, "where results go (--resume auto looks for checkpoints there)"},
      {"dist", Free,
       "checkpoints hold the whole optimizer state whatever the sharding (state_layout_version 2)"},
      {"debug", Free, "testing aid"},
  };
  return table;
}

const ResumeKey* find_resume_key(std::string_view path) {
  const ResumeKey* best = nullptr;
  for (const ResumeKey& k : resume_keys()) {
    const bool exact = k.key == path;
    const bool section = path.size() > k.key.size() && path.substr(0, k.key.size()) == k.key &&
                         path[k.key.size()] == '.';
    if (exact) return &k;
    if (section && (!best || k.key.size() > best->key.size())) best = &k;
  }
  return best;
}

bool resume_change_refused(const ResumeKey& k, const std::string& before, const std::string& after) {
  if (before == after) return false;
  switch (k.rule) {
    case Fixed:
    case Global: return true;  // without another world size (resume_check.cpp)
    case Free: return false;
    case OnOff: return (std::strtod(before.c_str(), nullptr) == 0.0) != (std::strtod(after.c_str(), nullptr) == 0.0);
  }
  return true;
}

std::string resume_keys_markdown() {
  std::string md(kResumeKeysBegin);
  md += "\n| key | on resume | because |\n|---|---|---|\n";
  for (const ResumeKey& k : resume_keys()) {
    md += "| `" + std::string(k.key) + (is_spec_section(k.key) ? ".*" : "") + "` | ";
    md += k.rule == Fixed    ? "**refused**"
          : k.rule == OnOff  ? "**refused** between 0 and non-zero"
          : k.rule == Global ? "**refused**, except with another world size that keeps it x world size"
                             : "may change";
    md += " | " + std::string(k.why) + " |\n";
  }
  md += kResumeKeysEnd;
  md += "\n";
  return md;
}

}  // namespace mp
