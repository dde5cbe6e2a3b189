// loss.h: the training objectives, all in fp32 whatever the policy: softmax cross-entropy on
// integer labels (with ignore_index) and mean squared error on float targets. One call computes
// the per-sample losses and, for training, the gradient w.r.t. the model output, pre-multiplied by
// `grad_scale` (= loss scale / global batch size), in the output's dtype.
#pragma once
#include <memory>
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
  int32_t ignore_index() const { return ignore_; }

 private:
  int32_t ignore_;
};

// Per-sample loss = mean over the sample's elements of (pred - target)^2.
class MseLoss : public Loss {
 public:
  bool classification() const override { return false; }
  double compute(Backend& be, const Tensor& pred, const Tensor& target, float grad_scale,
                 bool want_grad) override;
};

std::unique_ptr<Loss> make_loss(const std::string& type, int64_t ignore_index);

}  // namespace mp
