// pool2d.h: max_pool2d, avg_pool2d and global_avg_pool over NCHW images, no parameters.
// Output and input gradient in the layer's dtype, rounded once from fp32 (kernels/pool.h).
// Max pooling keeps the int32 argmax of each window for the backward (ties: first element).
#pragma once
#include "kernels/window2d.h"
#include "nn/image_shape.h"
#include "nn/layer.h"

namespace mp {

enum class PoolKind : uint8_t { Max, Avg, GlobalAvg };

class Pool2d : public Layer {
 public:
  // kernel/stride/padding are ignored for GlobalAvg (the window is the whole plane).
  Pool2d(PoolKind kind, int64_t kernel, int64_t stride, int64_t padding)
      : kind_(kind), kernel_(kernel), stride_(stride), padding_(padding) {}
  Shape infer(const Shape& in) override;
  const Tensor& forward(Context& ctx, const Tensor& x) override;
  const Tensor& backward(Context& ctx, const Tensor& dy) override;
  int64_t saved_bytes_per_sample() const override {  // max pooling's int32 argmax
    return kind_ == PoolKind::Max ? 4 * shape_numel(out_shape_) : 0;
  }

 private:
  Pool2dDesc desc(int64_t batch) const { return make_pool2d_desc(batch, in_.c, in_.h, in_.w, win_); }
  PoolKind kind_;
  int64_t kernel_, stride_, padding_;
  ImageShape in_;
  Window2d win_;
  Tensor x_, xcast_, dycast_, y_, dx_, argmax_;
};

}  // namespace mp
