// optimizer.cpp: the shared Optimizer machinery: state slots, step loop, rounding, casts.
#include "optim/optimizer.h"

#include <algorithm>

#include "core/error.h"

namespace mp {

namespace {

// SplitMix64 finaliser: decorrelates the rounding stream's Philox key from the run seed (which
// also keys initialisation and dropout streams).
uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

constexpr uint64_t kRoundingStream = 0x5352'4F55'4E44ull;  // "SROUND"
constexpr int kParamIndexBits = 24;

}  // namespace

Optimizer::Optimizer(uint64_t seed) : rounding_seed_(mix64(seed ^ kRoundingStream)) {}

void Optimizer::init_state(Backend& be, const ParamList& params) {
  const std::vector<std::string> slots = slot_names();
  for (Parameter* p : params) {
    MP_CHECK(p && p->master.defined(), "optimizer: parameter without master tensor");
    auto it = state_.find(p->name);
    if (it != state_.end()) {
      MP_CHECK(it->second.size() == slots.size() &&
                   (slots.empty() || it->second[0].numel() == p->master.numel()),
               "optimizer: state of " + p->name + " does not match the parameter");
      continue;
    }
    std::vector<Tensor> ts;
    for (size_t i = 0; i < slots.size(); ++i) {
      Tensor t = be.empty(p->master.shape(), DType::F32);
      be.fill(t, 0.0f);
      ts.push_back(std::move(t));
    }
    state_.emplace(p->name, std::move(ts));
  }
}

Rounding Optimizer::rounding_for(DType master_dtype, size_t index) const {
  Rounding r;
  if (master_dtype != DType::BF16 || !stochastic_) return r;
  MP_CHECK(index < (size_t{1} << kParamIndexBits), "optimizer: too many parameters");
  r.stochastic = true;
  r.seed = rounding_seed_;
  r.offset = (static_cast<uint64_t>(applied_steps_) << kParamIndexBits) | index;
  return r;
}

void Optimizer::step(Backend& be, const ParamList& params, double lr, const GradPrep& prep) {
  init_state(be, params);
  updates_.resize(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    Parameter& p = *params[i];
    MP_CHECK(p.grad.defined() && p.grad.dtype() == DType::F32 &&
                 p.grad.numel() == p.master.numel(),
             "optimizer: " + p.name + " needs an fp32 gradient of its own size");
    std::vector<Tensor>& slots = state_.at(p.name);
    ParamUpdate& u = updates_[i];
    u = ParamUpdate{};
    u.param = &p.master;
    u.grad = &p.grad;
    u.m = !slots.empty() ? &slots[0] : nullptr;
    u.v = slots.size() > 1 ? &slots[1] : nullptr;
    // working <- RNE(master) in the same pass, where they are distinct tensors
    u.working = p.working.raw() != p.master.raw() ? &p.working : nullptr;
    u.rounding = rounding_for(p.master.dtype(),
                              p.rounding_index >= 0 ? static_cast<size_t>(p.rounding_index) : i);
    u.rounding.first = static_cast<uint64_t>(p.rounding_first);
  }
  update(be, params, updates_, lr, prep);
  ++applied_steps_;
}

int64_t Optimizer::state_bytes() const {
  int64_t n = 0;
  for (const auto& kv : state_)
    for (const Tensor& t : kv.second) n += static_cast<int64_t>(t.nbytes());
  return n;
}

std::vector<std::string> Optimizer::param_names() const {
  std::vector<std::string> out;
  for (const auto& kv : state_) out.push_back(kv.first);
  return out;
}

std::vector<float> Optimizer::get_slot(Backend& be, const std::string& slot,
                                       const std::string& param) const {
  const std::vector<std::string> slots = slot_names();
  const auto s = std::find(slots.begin(), slots.end(), slot);
  const auto it = state_.find(param);
  MP_CHECK(s != slots.end() && it != state_.end(),
           "optimizer: no state /optimizer/" + slot + "/" + param);
  return to_host_floats(be, it->second[static_cast<size_t>(s - slots.begin())]);
}

void Optimizer::set_slot(Backend& be, const std::string& slot, const std::string& param,
                         const std::vector<float>& values) {
  const std::string key = "/optimizer/" + slot + "/" + param;
  const std::vector<std::string> slots = slot_names();
  const auto s = std::find(slots.begin(), slots.end(), slot);
  if (s == slots.end())
    throw DataError("checkpoint " + key + ": the " + type() + " optimizer has no slot \"" + slot +
                    "\"");
  const auto it = state_.find(param);
  if (it == state_.end())
    throw DataError("checkpoint " + key + ": the model has no parameter \"" + param + "\"");
  Tensor& t = it->second[static_cast<size_t>(s - slots.begin())];
  if (static_cast<int64_t>(values.size()) != t.numel())
    throw DataError("checkpoint " + key + ": expected " + std::to_string(t.numel()) +
                    " values, got " + std::to_string(values.size()));
  be.upload(values.data(), t);
}

void Optimizer::set_applied_steps(int64_t n) {
  if (n < 0) throw DataError("checkpoint: negative optimizer step count " + std::to_string(n));
  applied_steps_ = n;
}

}  // namespace mp
