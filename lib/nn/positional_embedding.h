// positional_embedding.h: learned absolute positions, y = x + P[0:T] for x [B, T, dim] and
// P [max_len, dim] (fp32 master, working copy in the layer's dtype). The add computes in fp32 and
// rounds y once (rounding point: Output). Backward: dx = dy (no rounding), dP[0:T] += the sum over
// the batch of dy, accumulated in fp32 (Backend::bias_grad over [B, T * dim]: deterministic).
// max_len 0 means the T of the input shape.
#pragma once
#include "nn/layer.h"

namespace mp {

class PositionalEmbedding : public Layer {
 public:
  PositionalEmbedding(int64_t max_len, std::string init, double init_std)
      : max_len_(max_len), init_(std::move(init)), init_std_(init_std) {}
  Shape infer(const Shape& in) override;
  void create_params(Backend& be, bool master_fp32, uint64_t seed, uint64_t offset);
  const Tensor& forward(Context& ctx, const Tensor& x) override;
  const Tensor& backward(Context& ctx, const Tensor& dy) override;
  void collect_params(ParamList& out) override { out.push_back(&p_); }

 private:
  int64_t max_len_, dim_ = 0;
  std::string init_;
  double init_std_;
  Parameter p_;
  Tensor xcast_, dycast_, y_;
};

}  // namespace mp
