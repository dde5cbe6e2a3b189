// loss.h: the training objectives, all in fp32 whatever the policy: softmax cross-entropy on
// integer labels (with ignore_index) and mean squared error on float targets. One call computes
// the per-sample losses and, for training, the gradient w.r.t. the model output, pre-multiplied by
// `grad_scale`, in the output's dtype. Means are PyTorch's mean reduction: the trainer divides a
// step's summed loss, and scales its gradient (grad_scale = loss scale / N), by the N samples of
// the whole step that count (counted_rows: for cross_entropy the labels that are not
// ignore_index), and evaluation divides by the counted samples of the split
// (train/step_normalisation.h).
#pragma once
#include <memory>
#include <span>
#include <string>

#include "backend/backend.h"

namespace mp {

class Loss {
 public:
  virtual ~Loss() = default;
  virtual bool classification() const = 0;
  // Returns the sum of per-sample losses of this batch (fp64 on the host).
  virtual double compute(Backend& be, const Tensor& out, const Tensor& target, float grad_scale,
                         bool want_grad) = 0;
  // The training form (issue 12: no read-back per micro-batch): the loss and its gradient as
  // compute(..., true), with the batch's summed loss added into stats[kStatLossSum] on the device
  // (Backend::sum_into: the same fp64 total as adding compute()'s values in call order) and a bad
  // label recorded in stats (Backend::softmax_xent_deferred) for raise_deferred to report after
  // the step's one read-back.
  virtual void compute_into(Backend& be, const Tensor& out, const Tensor& target,
                            float grad_scale, Tensor& stats) = 0;
  // Raise what compute_into deferred (cross_entropy: a bad label, the DataError softmax_xent
  // raises at once) from the step's read-back; nothing when it is clean.
  virtual void raise_deferred(const StepStats&) const {}
  // Whether a sample with this class label enters the loss and its means (cross_entropy: the
  // label is not ignore_index). Regression losses count every sample.
  virtual bool counts_label(int32_t) const { return true; }
  // Samples of a batch of `rows` that enter the loss's means: the labels that count, or all rows
  // when the batch has no labels (regression targets). A sequence batch has T labels per sample
  // (labels [B, T]) and counts tokens: its means are per counted token (nats/token).
  int64_t counted_rows(std::span<const int32_t> labels, int64_t rows) const;
  const Tensor& grad() const { return grad_; }
  const Tensor& sample_losses() const { return losses_; }

 protected:
  Tensor losses_, grad_;
};

class CrossEntropyLoss : public Loss {
 public:
  explicit CrossEntropyLoss(int32_t ignore_index) : ignore_(ignore_index) {}
  bool classification() const override { return true; }
  double compute(Backend& be, const Tensor& logits, const Tensor& labels, float grad_scale,
                 bool want_grad) override;
  void compute_into(Backend& be, const Tensor& logits, const Tensor& labels, float grad_scale,
                    Tensor& stats) override;
  void raise_deferred(const StepStats& s) const override;
  int32_t ignore_index() const { return ignore_; }
  bool counts_label(int32_t label) const override { return label != ignore_; }

 private:
  int32_t ignore_;
  int64_t classes_ = 0;  // C of the last compute_into (the deferred error names it)
};

// Per-sample loss = mean over the sample's elements of (pred - target)^2.
class MseLoss : public Loss {
 public:
  bool classification() const override { return false; }
  double compute(Backend& be, const Tensor& pred, const Tensor& target, float grad_scale,
                 bool want_grad) override;
  void compute_into(Backend& be, const Tensor& pred, const Tensor& target, float grad_scale,
                    Tensor& stats) override;

 private:
  // The per-sample losses (and gradient when want_grad) into losses_ (grad_).
  void losses(Backend& be, const Tensor& pred, const Tensor& target, float grad_scale,
              bool want_grad);
};

std::unique_ptr<Loss> make_loss(const std::string& type, int64_t ignore_index);

}  // namespace mp
