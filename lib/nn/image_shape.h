// image_shape.h: the per-sample image a conv/pool layer reads: [C, H, W], or [H, W] taken as one
// channel. Anything else is a ConfigError naming the layer.
#pragma once
#include <string>

#include "core/error.h"
#include "core/tensor.h"

namespace mp {

struct ImageShape {
  int64_t c = 1, h = 1, w = 1;
};

inline ImageShape image_shape(const Shape& in, const std::string& where, const std::string& type) {
  if (in.size() == 3) return {in[0], in[1], in[2]};
  if (in.size() == 2) return {1, in[0], in[1]};
  throw ConfigError(where + ": " + type + ": expected a per-sample image [channels, height, width] "
                    "(or [height, width] for one channel), got " + shape_str(in) +
                    (in.size() == 1 ? "; for flat images set model.input_shape, e.g. [1, 28, 28]"
                                    : ""));
}

}  // namespace mp
