#include "nn/loss.h"

#include "backend/op_checks.h"
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

namespace {

// The [n, C] views softmax_xent takes of logits and of the gradient buffer (losses and gradient
// buffers made to fit).
struct XentViews {
  Tensor logits, grad;
};
XentViews xent_views(Backend& be, const Tensor& logits, bool want_grad, Tensor& losses,
                     Tensor& grad) {
  const int64_t n = logits.rows();
  ensure_buffer(be, losses, {n}, DType::F32);
  if (want_grad) ensure_buffer(be, grad, logits.shape(), logits.dtype());
  return {logits.reshape({n, logits.cols()}),
          want_grad ? grad.reshape({n, logits.cols()}) : Tensor()};
}

}  // namespace

double CrossEntropyLoss::compute(Backend& be, const Tensor& logits, const Tensor& labels,
                                 float grad_scale, bool want_grad) {
  XentViews v = xent_views(be, logits, want_grad, losses_, grad_);
  be.softmax_xent(v.logits, labels, ignore_, grad_scale, losses_, want_grad ? &v.grad : nullptr);
  return be.sum(losses_);
}

void CrossEntropyLoss::compute_into(Backend& be, const Tensor& logits, const Tensor& labels,
                                    float grad_scale, Tensor& stats) {
  XentViews v = xent_views(be, logits, true, losses_, grad_);
  classes_ = logits.cols();
  be.softmax_xent_deferred(v.logits, labels, ignore_, grad_scale, losses_, &v.grad, stats);
  be.sum_into(losses_, stats, kStatLossSum);
}

void CrossEntropyLoss::raise_deferred(const StepStats& s) const {
  if (s.bad_label) throw op_checks::bad_label(s.bad_row, s.bad_label_value, classes_, ignore_);
}

void MseLoss::losses(Backend& be, const Tensor& pred, const Tensor& target, float grad_scale,
                     bool want_grad) {
  const int64_t n = pred.dim(0), per = pred.numel() / n;
  Tensor p2 = pred.reshape({n, per}), t2 = target.reshape({n, per});
  ensure_buffer(be, losses_, {n}, DType::F32);
  if (want_grad) ensure_buffer(be, grad_, pred.shape(), pred.dtype());
  Tensor g2 = want_grad ? grad_.reshape({n, per}) : Tensor();
  be.mse(p2, t2, grad_scale / static_cast<float>(per), losses_, want_grad ? &g2 : nullptr);
  be.scale(losses_, 1.0f / static_cast<float>(per));
}

double MseLoss::compute(Backend& be, const Tensor& pred, const Tensor& target, float grad_scale,
                        bool want_grad) {
  losses(be, pred, target, grad_scale, want_grad);
  return be.sum(losses_);
}

void MseLoss::compute_into(Backend& be, const Tensor& pred, const Tensor& target,
                           float grad_scale, Tensor& stats) {
  losses(be, pred, target, grad_scale, true);
  be.sum_into(losses_, stats, kStatLossSum);
}

std::unique_ptr<Loss> make_loss(const std::string& type, int64_t ignore_index) {
  if (type == "cross_entropy") return std::make_unique<CrossEntropyLoss>(static_cast<int32_t>(ignore_index));
  if (type == "mse") return std::make_unique<MseLoss>();
  throw ConfigError("model.loss: expected cross_entropy or mse, got \"" + type + "\"");
}

}  // namespace mp
