#include "nn/init.h"

#include <cmath>

namespace mp {

void init_tensor(Backend& be, Tensor& w, const std::string& kind, double std_for_normal,
                 int64_t fan_in, int64_t fan_out, uint64_t seed, uint64_t offset) {
  const double fi = static_cast<double>(fan_in), fo = static_cast<double>(fan_out);
  if (kind == "zeros") {
    be.fill(w, 0.0f);
  } else if (kind == "kaiming_uniform") {  // He et al. 2015, gain sqrt(2) (ReLU)
    const double bound = std::sqrt(6.0 / fi);
    be.random_uniform(w, static_cast<float>(-bound), static_cast<float>(bound), seed, offset);
  } else if (kind == "kaiming_normal") {
    be.random_normal(w, 0.0f, static_cast<float>(std::sqrt(2.0 / fi)), seed, offset);
  } else if (kind == "xavier_uniform") {  // Glorot & Bengio 2010
    const double bound = std::sqrt(6.0 / (fi + fo));
    be.random_uniform(w, static_cast<float>(-bound), static_cast<float>(bound), seed, offset);
  } else if (kind == "xavier_normal") {
    be.random_normal(w, 0.0f, static_cast<float>(std::sqrt(2.0 / (fi + fo))), seed, offset);
  } else if (kind == "normal") {
    be.random_normal(w, 0.0f, static_cast<float>(std_for_normal), seed, offset);
  } else {
    MP_CHECK(false, "unknown initialiser " + kind + " (the config loader should have rejected it)");
  }
}

}  // namespace mp
