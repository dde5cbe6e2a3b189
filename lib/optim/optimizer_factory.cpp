// optimizer_factory.cpp: OptimizerSpec -> Sgd | AdamW, with the spec's ranges checked.
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "optim/adamw.h"
#include "optim/sgd.h"

namespace mp {

namespace {

void require(bool ok, const std::string& key, const std::string& expected, double got) {
  if (ok) return;
  std::ostringstream os;
  os << "optimizer." << key << ": expected " << expected << ", got " << got;
  throw ConfigError(os.str());
}

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const OptimizerSpec& spec, uint64_t seed) {
  require(std::isfinite(spec.lr) && spec.lr > 0.0, "lr", "a positive number", spec.lr);
  require(std::isfinite(spec.weight_decay) && spec.weight_decay >= 0.0, "weight_decay",
          "a number >= 0", spec.weight_decay);
  if (spec.type == "adamw") {
    require(spec.beta1 >= 0.0 && spec.beta1 < 1.0, "beta1", "a number in [0, 1)", spec.beta1);
    require(spec.beta2 >= 0.0 && spec.beta2 < 1.0, "beta2", "a number in [0, 1)", spec.beta2);
    require(std::isfinite(spec.eps) && spec.eps > 0.0, "eps", "a positive number", spec.eps);
    AdamWHyper h;
    h.beta1 = static_cast<float>(spec.beta1);
    h.beta2 = static_cast<float>(spec.beta2);
    h.eps = static_cast<float>(spec.eps);
    h.weight_decay = static_cast<float>(spec.weight_decay);
    return std::make_unique<AdamW>(h, seed);
  }
  if (spec.type == "sgd") {
    require(spec.momentum >= 0.0 && spec.momentum < 1.0, "momentum", "a number in [0, 1)",
            spec.momentum);
    if (spec.nesterov && spec.momentum == 0.0)
      throw ConfigError("optimizer.nesterov: true needs optimizer.momentum > 0");
    SgdHyper h;
    h.momentum = static_cast<float>(spec.momentum);
    h.weight_decay = static_cast<float>(spec.weight_decay);
    h.nesterov = spec.nesterov;
    return std::make_unique<Sgd>(h, seed);
  }
  throw ConfigError("optimizer.type: expected one of adamw, sgd, got \"" + spec.type + "\"");
}

}  // namespace mp
