// conv2d.h: 2-D convolution over NCHW images (stride, padding, dilation, groups, bias).
// W [out, in/groups, k, k] and b [out] have fp32 masters; the backend's conv2d ops read the
// working copies in the layer's dtype, accumulate in fp32, add b in fp32 and round y once (like
// Linear's GEMM). dW and db are added into the fp32 gradients (beta = 1).
#pragma once
#include "kernels/window2d.h"
#include "nn/image_shape.h"
#include "nn/layer.h"

namespace mp {

struct Conv2dOptions {
  int64_t out = 0, kernel = 1, stride = 1, padding = 0, dilation = 1, groups = 1;
  bool bias = true;
  std::string init = "kaiming_uniform";
  double init_std = 0.02;
};

class Conv2d : public Layer {
 public:
  explicit Conv2d(Conv2dOptions o) : o_(std::move(o)) {}
  Shape infer(const Shape& in) override;
  void create_params(Backend& be, bool master_fp32, uint64_t seed, uint64_t offset);
  const Tensor& forward(Context& ctx, const Tensor& x) override;
  const Tensor& backward(Context& ctx, const Tensor& dy) override;
  void collect_params(ParamList& out) override;

 private:
  Conv2dDesc desc(int64_t batch) const;
  Conv2dOptions o_;
  ImageShape in_;
  Window2d win_;
  Parameter w_, b_;
  Tensor x_, xcast_, dycast_, y_, dx_;
  Tensor dw_scratch_;  // a frozen weight's part when only the bias trains
};

}  // namespace mp
