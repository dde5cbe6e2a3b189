// data_setup.cpp: opening and checking the splits of a run.
#include "train/data_setup.h"

#include "core/error.h"
#include "train/model_setup.h"

namespace mp {

RunData open_run_data(const RunSpec& spec) {
  const std::string file = resolve_data_file(spec);
  RunData d;
  d.train = Split::open(file, spec.data.train, spec.data.in_memory);
  if (!spec.data.val.x.empty()) d.val = Split::open(file, spec.data.val, spec.data.in_memory);
  d.input_shape = spec.model.input_shape.empty() ? d.train->sample_shape() : spec.model.input_shape;
  for (const auto& s : {d.train, d.val}) {
    if (!s) continue;
    s->check_input_shape(d.input_shape);
    s->check_readable();
  }
  for (const auto& s : {d.train, d.val})
    if (s && spec.data.check_finite) s->check_finite();
  return d;
}

void check_run_data(const RunSpec& spec, const RunData& data, const Model& model, const Loss& loss) {
  if (loss.classification()) {
    // Per sample: [classes] logits and one label, or (a sequence model) [T, classes] logits and
    // T labels, one per position.
    const Shape& out = model.output_shape();
    const int64_t classes =
        spec.model.num_classes > 0 ? spec.model.num_classes : (out.empty() ? 1 : out.back());
    if (out.empty() || out.size() > 2 || out.back() != classes)
      throw ConfigError("model.loss: cross_entropy needs the last layer to output one logit per class "
                        "(" + std::to_string(classes) + ") per sample or per position, but the "
                        "model outputs " + shape_str(out) + " per sample; set the last linear's out "
                        "(or lm_head's vocab)");
    const int64_t per_sample = out.size() == 2 ? out[0] : 1;
    for (const auto& s : {data.train, data.val})
      if (s) s->check_labels(classes, spec.model.ignore_index, per_sample);
  } else {
    for (const auto& s : {data.train, data.val})
      if (s) s->check_targets(model.output_shape());
  }
}

}  // namespace mp
