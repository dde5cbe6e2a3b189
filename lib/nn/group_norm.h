// group_norm.h: GroupNorm over [C, ...] per sample (Wu & He 2018): the C channels split into
// `groups` groups, each normalised over its channels and positions with fp32 statistics, then a
// per-channel affine gamma, beta (fp32 masters and gradients, no weight decay). Chosen over a
// batch norm for small CNNs: no running statistics (nothing extra in checkpoints), the same in
// training and evaluation, and no statistic spans the batch, so data-parallel runs stay exact.
#pragma once
#include "nn/layer.h"

namespace mp {

class GroupNorm : public Layer {
 public:
  GroupNorm(int64_t groups, double eps, bool affine)
      : groups_(groups), eps_(static_cast<float>(eps)), affine_(affine) {}
  Shape infer(const Shape& in) override;
  void create_params(Backend& be, bool master_fp32);
  const Tensor& forward(Context& ctx, const Tensor& x) override;
  const Tensor& backward(Context& ctx, const Tensor& dy) override;
  void collect_params(ParamList& out) override;
  int64_t saved_bytes_per_sample() const override { return 2 * 4 * groups_; }  // mean, rstd

 private:
  // x as [n, c, rest] for the backend.
  Tensor view(const Tensor& t) const;
  int64_t groups_;
  float eps_;
  bool affine_;
  int64_t channels_ = 0;
  Parameter gamma_, beta_;
  Tensor ones_, zeros_, dgamma_scratch_, dbeta_scratch_;  // stand-ins when affine is false
  Tensor x_, xcast_, dycast_, y_, dx_, mean_, rstd_;
};

}  // namespace mp
