#include "train/evaluate.h"

#include <spdlog/spdlog.h>

#include <limits>

#include "checkpoint/checkpoint_compat.h"
#include "checkpoint/weights_file.h"
#include "data/data_loader.h"
#include "nn/layer.h"
#include "precision/dtype_policy.h"
#include "train/device_batch.h"
#include "train/model_setup.h"

namespace mp {

namespace {

// Evaluation reads every sample (or window) once in order: no shuffle, no drop_last, batches no
// larger than this rank's share of `n` (with padding).
LoaderOptions eval_loader_options(const DataSpec& data, dist::Communicator* comm, int64_t n) {
  const int world = comm ? comm->world_size() : 1;
  LoaderOptions lo = loader_options(data, 0, comm ? comm->rank() : 0, world);
  lo.shuffle = false;
  lo.drop_last = false;
  lo.batch_size = std::min<int64_t>(data.batch_size, (n + world - 1) / world);
  return lo;
}

EvalResult evaluate_loader(Backend& be, Model& model, Loss& loss, DataLoader& loader,
                           dist::Communicator* comm);

}  // namespace

EvalResult evaluate(Backend& be, Model& model, Loss& loss, std::shared_ptr<const Split> split,
                    const DataSpec& data, dist::Communicator* comm) {
  DataLoader loader(split, eval_loader_options(data, comm, split->size()));
  return evaluate_loader(be, model, loss, loader, comm);
}

EvalResult evaluate(Backend& be, Model& model, Loss& loss, std::shared_ptr<const TokenStream> tokens,
                    const DataSpec& data, dist::Communicator* comm) {
  const int64_t windows = (tokens->size() - 1) / std::max<int64_t>(data.context, 1);
  DataLoader loader(tokens, eval_loader_options(data, comm, windows));
  return evaluate_loader(be, model, loss, loader, comm);
}

namespace {

EvalResult evaluate_loader(Backend& be, Model& model, Loss& loss, DataLoader& loader,
                           dist::Communicator* comm) {
  const int world = comm ? comm->world_size() : 1;
  Context ctx{be, false, 0, 0};
  DeviceBatch db;
  Tensor pred;
  std::vector<int32_t> pred_host;
  EvalResult r;
  double loss_sum = 0.0;
  int64_t correct = 0, counted = 0;
  for (int64_t i = 0; i < loader.batches_per_epoch(); ++i) {
    Batch b = loader.next();
    drop_padding_rows(b);
    if (b.size == 0) continue;
    upload_batch(be, b, db);
    const Tensor& out = model.forward(ctx, db.x);
    loss_sum += loss.compute(be, out, db.target, 0.0f, false);
    if (loss.classification()) {
      // One prediction per label: per sample, or per token for labels [B, T].
      const auto n = static_cast<int64_t>(b.labels.size());
      ensure_buffer(be, pred, {n}, DType::I32);
      be.argmax_rows(out.reshape({n, out.numel() / n}), pred);
      pred_host.resize(static_cast<size_t>(n));
      be.download(pred, pred_host.data());
      for (int64_t k = 0; k < n; ++k) {
        const int32_t y = b.labels[static_cast<size_t>(k)];
        correct += loss.counts_label(y) && pred_host[static_cast<size_t>(k)] == y;
      }
    }
    counted += loss.counted_rows(b.labels, b.size);
    r.per_token = r.per_token || static_cast<int64_t>(b.labels.size()) > b.size;
    r.samples += b.size;
  }
  if (world > 1) {
    const std::vector<double> sums = comm->sum_host(
        {loss_sum, static_cast<double>(correct), static_cast<double>(counted),
         static_cast<double>(r.samples)});
    loss_sum = sums[0];
    correct = static_cast<int64_t>(sums[1]);
    counted = static_cast<int64_t>(sums[2]);
    r.samples = static_cast<int64_t>(sums[3]);
  }
  r.counted = counted;
  if (counted == 0)
    spdlog::warn("validation: every label of its {} samples is model.ignore_index; val_loss and "
                 "val_accuracy are undefined (nan)", r.samples);
  // Means over the counted samples of the whole split (ignore_index rows are neither right nor
  // wrong); a split with none has no loss or accuracy to report (NaN: eval.csv "nan" and "").
  const double n = counted > 0 ? static_cast<double>(counted) : std::numeric_limits<double>::quiet_NaN();
  r.loss = loss_sum / n;
  r.accuracy = loss.classification() ? static_cast<double>(correct) / n : -1.0;
  return r;
}

}  // namespace

std::unique_ptr<Model> build_model_with_weights(Backend& be, const RunSpec& spec,
                                                const DTypePolicy& policy, const Shape& in_shape,
                                                const WeightsData& w, const std::string& file) {
  auto model = Model::build(be, spec.model.layers, in_shape,
                            model_options(policy, static_cast<uint64_t>(spec.seed)));
  check_same_model(w.model_signature, file, make_model_signature(model->params()), true);
  for (const CheckpointTensor& t : w.params)
    set_parameter_values(be, *model->find_param(t.name), from_host_floats(be, t.values, t.shape, DType::F32));
  return model;
}

namespace {

// The weights in `w` evaluated in `policy` on `val` (a Split or a TokenStream).
template <class Source>
EvalResult evaluate_in(Backend& be, const RunSpec& spec, const DTypePolicy& policy,
                       std::shared_ptr<const Source> val, const Shape& in_shape,
                       const WeightsData& w, const std::string& file) {
  auto model = build_model_with_weights(be, spec, policy, in_shape, w, file);
  auto loss = make_loss(spec.model.loss, spec.model.ignore_index);
  return evaluate(be, *model, *loss, val, spec.data);
}

}  // namespace

EvalReport evaluate_weights(const RunSpec& spec_in, const std::string& file, bool compare_fp32) {
  RunSpec spec = spec_in;
  auto be = make_backend({spec.device, static_cast<int>(spec.threads), spec.precision.allow_tf32});
  EvalReport rep;
  rep.auto_choice = resolve_auto_policy(spec.precision, be->native_low_precision());
  const DTypePolicy policy = resolve_dtype_policy(spec.precision);
  const std::string data_file = resolve_data_file(spec);
  if (spec.data.val.x.empty())
    throw ConfigError("data.val.x: mptrain eval needs a validation split; set data.val.x and data.val.y");
  const WeightsData w = read_weights_any(file);
  rep.policy = spec.precision.policy;
  rep.trained_policy = w.policy;
  rep.stored = w.dtype;
  auto run = [&](auto val, const Shape& in_shape) {
    rep.result = evaluate_in(*be, spec, policy, val, in_shape, w, file);
    if (compare_fp32) rep.fp32 = evaluate_in(*be, spec, DTypePolicy{}, val, in_shape, w, file);
  };
  if (spec.data.format == "tokens") {
    auto val = TokenStream::open(data_file, spec.data.val.x, "validation");
    val->check_context(spec.data.context);
    run(val, Shape{spec.data.context});
  } else {
    auto val = Split::open(data_file, spec.data.val, spec.data.in_memory);
    run(val, spec.model.input_shape.empty() ? val->sample_shape() : spec.model.input_shape);
  }
  return rep;
}

EvalResult evaluate_checkpoint(const RunSpec& spec, const std::string& checkpoint) {
  return evaluate_weights(spec, checkpoint, false).result;
}

}  // namespace mp
