// cpu_conv.h: the CPU convolution engine. oneDNN convolution primitives (forward, backward data,
// backward weights with the bias gradient), NCHW / OIHW (GOIHW for groups) plain layouts, created
// once per (shape, window, groups, dtypes, bias) and cached like the GEMM's matmuls.
// fp32 runs natively; bf16 runs natively when oneDNN has a bf16 convolution for this CPU
// (AVX512-BF16 / AVX512 cores; fp32 accumulation, one rounding of the output), otherwise like
// fp16, which oneDNN 2.6 cannot run on CPU: x, w and dy widened exactly to fp32 in reused scratch,
// the fp32 convolution, and one RNE rounding of its result. The bias is handed to oneDNN in fp32
// (the working copy widened exactly). Weight and bias gradients are computed into fp32 scratch
// and added to the fp32 gradients (beta = 1).
#pragma once
#include <memory>

#include "core/tensor.h"
#include "kernels/window2d.h"

namespace mp::cpu {

class ConvEngine {
 public:
  explicit ConvEngine(int threads);
  ~ConvEngine();
  ConvEngine(const ConvEngine&) = delete;
  ConvEngine& operator=(const ConvEngine&) = delete;

  void forward(const Conv2dDesc& d, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y);
  void backward_data(const Conv2dDesc& d, const Tensor& dy, const Tensor& w, Tensor& dx);
  void backward_weights(const Conv2dDesc& d, const Tensor& x, const Tensor& dy, Tensor& dw,
                        Tensor* db);
  size_t cached_primitives() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mp::cpu
