#include "nn/loss.h"

#include "nn/layer.h"

namespace mp {

int64_t Loss::counted_rows(std::span<const int32_t> labels, int64_t rows) const {
  if (labels.empty()) return rows;
  // One label per sample (classification) or per token (sequences: rows samples of T labels).
  MP_CHECK(rows > 0 && static_cast<int64_t>(labels.size()) % rows == 0,
           "counted_rows: expected the same number of labels for every sample");
  int64_t n = 0;
  for (const int32_t y : labels) n += counts_label(y);
  return n;
}

double CrossEntropyLoss::compute(Backend& be, const Tensor& logits, const Tensor& labels,
                                 float grad_scale, bool want_grad) {
  const int64_t n = logits.rows();
  Tensor l2 = logits.reshape({n, logits.cols()});
  ensure_buffer(be, losses_, {n}, DType::F32);
  if (want_grad) ensure_buffer(be, grad_, logits.shape(), logits.dtype());
  Tensor g2 = want_grad ? grad_.reshape({n, logits.cols()}) : Tensor();
  be.softmax_xent(l2, labels, ignore_, grad_scale, losses_, want_grad ? &g2 : nullptr);
  return be.sum(losses_);
}

double MseLoss::compute(Backend& be, const Tensor& pred, const Tensor& target, float grad_scale,
                        bool want_grad) {
  const int64_t n = pred.dim(0), per = pred.numel() / n;
  Tensor p2 = pred.reshape({n, per}), t2 = target.reshape({n, per});
  ensure_buffer(be, losses_, {n}, DType::F32);
  if (want_grad) ensure_buffer(be, grad_, pred.shape(), pred.dtype());
  Tensor g2 = want_grad ? grad_.reshape({n, per}) : Tensor();
  be.mse(p2, t2, grad_scale / static_cast<float>(per), losses_, want_grad ? &g2 : nullptr);
  be.scale(losses_, 1.0f / static_cast<float>(per));
  return be.sum(losses_);
}

std::unique_ptr<Loss> make_loss(const std::string& type, int64_t ignore_index) {
  if (type == "cross_entropy") return std::make_unique<CrossEntropyLoss>(static_cast<int32_t>(ignore_index));
  if (type == "mse") return std::make_unique<MseLoss>();
  throw ConfigError("model.loss: expected cross_entropy or mse, got \"" + type + "\"");
}

}  // namespace mp
