// data_setup.cpp: opening and checking the splits of a run.
#include "train/data_setup.h"

#include "core/error.h"
#include "train/model_setup.h"

namespace mp {

RunData open_run_data(const RunSpec& spec) {
  const std::string file = resolve_data_file(spec);
  RunData d;
  if (spec.data.format == "tokens") {
    d.train_tokens = TokenStream::open(file, spec.data.train.x, "training");
    if (!spec.data.val.x.empty()) d.val_tokens = TokenStream::open(file, spec.data.val.x, "validation");
    for (const auto& s : {d.train_tokens, d.val_tokens})
      if (s) s->check_context(spec.data.context);
    d.input_shape = {spec.data.context};  // spec_resolve.cpp: model.input_shape is [context]
    return d;
  }
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
  if (data.train_tokens) {  // ids are checked against /vocab at open; the logits must cover it
    const Shape want{spec.data.context, data.train_tokens->vocab_size()};
    if (!loss.classification() || model.output_shape() != want)
      throw ConfigError("model.layers: data.format: tokens needs cross_entropy over a model that "
                        "outputs " + shape_str(want) + " (context x vocabulary of " +
                        data.train_tokens->file() + ") per window, but it outputs " +
                        shape_str(model.output_shape()) + " with model.loss " + spec.model.loss +
                        "; end the model with an lm_head over the vocabulary");
    return;
  }
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
