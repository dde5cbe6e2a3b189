#include "train/evaluate.h"

#include <spdlog/spdlog.h>

#include <limits>

#include "data/data_loader.h"
#include "nn/layer.h"
#include "train/device_batch.h"

namespace mp {

EvalResult evaluate(Backend& be, Model& model, Loss& loss, std::shared_ptr<const Split> split,
                    const DataSpec& data, dist::Communicator* comm) {
  const int world = comm ? comm->world_size() : 1;
  LoaderOptions lo = loader_options(data, 0, comm ? comm->rank() : 0, world);
  lo.shuffle = false;
  lo.drop_last = false;
  const int64_t share = (split->size() + world - 1) / world;  // this rank's samples, with padding
  lo.batch_size = std::min<int64_t>(data.batch_size, share);
  DataLoader loader(split, lo);
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
      ensure_buffer(be, pred, {b.size}, DType::I32);
      be.argmax_rows(out.reshape({b.size, out.numel() / b.size}), pred);
      pred_host.resize(static_cast<size_t>(b.size));
      be.download(pred, pred_host.data());
      for (int64_t k = 0; k < b.size; ++k) {
        const int32_t y = b.labels[static_cast<size_t>(k)];
        correct += loss.counts_label(y) && pred_host[static_cast<size_t>(k)] == y;
      }
    }
    counted += loss.counted_rows(b.labels, b.size);
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

}  // namespace mp
