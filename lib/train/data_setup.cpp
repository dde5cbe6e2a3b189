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
    // A model input of the same size per sample is a view of the data (Model::forward), e.g.
    // flat [784] MNIST pixels as input_shape [1, 28, 28] for a CNN.
    if (shape_numel(s->sample_shape()) != shape_numel(d.input_shape)) s->check_input_shape(d.input_shape);
    s->check_readable();
  }
  for (const auto& s : {d.train, d.val})
    if (s && spec.data.check_finite) s->check_finite();
  return d;
}

void check_run_data(const RunSpec& spec, const RunData& data, const Model& model, const Loss& loss) {
  if (loss.classification()) {
    const int64_t classes =
        spec.model.num_classes > 0 ? spec.model.num_classes : shape_numel(model.output_shape());
    if (model.output_shape().size() != 1 || shape_numel(model.output_shape()) != classes)
      throw ConfigError("model.loss: cross_entropy needs the last layer to output one logit per class "
                        "(" + std::to_string(classes) + "), but the model outputs " +
                        shape_str(model.output_shape()) + " per sample; set the last linear's out");
    for (const auto& s : {data.train, data.val})
      if (s) s->check_labels(classes, spec.model.ignore_index);
  } else {
    for (const auto& s : {data.train, data.val})
      if (s) s->check_targets(model.output_shape());
  }
}

}  // namespace mp
