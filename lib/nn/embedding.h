// embedding.h: token embedding. Input: token ids as fp32 [B, T] (exact integers, the model input
// as DeviceBatch holds it); output [B, T, dim] in the layer's dtype: rows of the weight [vocab,
// dim] (fp32 master, working copy in the layer's dtype; the gather copies working rows, so the
// output has no rounding point of its own). Backward: the weight gradient is a scatter-add into
// the fp32 grad, deterministic (Backend::embedding_backward); ids have no gradient, so the input
// gradient is zero (and skipped when the layer comes first, as it normally does).
// An id that is not an integer in [0, vocab) is a DataError naming the id, its position and this
// layer. In a training step (Context::stats set) the layer runs the deferred ops (no host read:
// the bad id gets a zero row and no gradient) and raise_deferred throws that same DataError after
// the step's read, before any update; elsewhere (evaluation, sampling) the raising ops throw it
// at once. lm_head with `tie: true` shares weight() (model.cpp).
#pragma once
#include "nn/layer.h"

namespace mp {

class Embedding : public Layer {
 public:
  Embedding(int64_t vocab, int64_t dim, std::string init, double init_std)
      : vocab_(vocab), dim_(dim), init_(std::move(init)), init_std_(init_std) {}
  Shape infer(const Shape& in) override;
  void create_params(Backend& be, bool master_fp32, uint64_t seed, uint64_t offset);
  const Tensor& forward(Context& ctx, const Tensor& x) override;
  const Tensor& backward(Context& ctx, const Tensor& dy) override;
  void collect_params(ParamList& out) override { out.push_back(&w_); }
  // The bad id recorded in the step stats, if it is one of this layer's (not in [0, vocab)) and
  // this layer ran deferred: sample and position come from the last forward's ids shape [B, T]
  // (T is fixed; the index is within its micro-batch).
  void raise_deferred(const StepStats& s) const override;
  int64_t vocab() const { return vocab_; }
  int64_t dim() const { return dim_; }
  Parameter& weight() { return w_; }

 private:
  // Runs an embedding op, adding this layer's name and spec location to a bad-id DataError.
  template <class F> void with_layer_context(F&& f) const;

  int64_t vocab_, dim_;
  std::string init_;
  double init_std_;
  Parameter w_;
  Tensor ids_;  // the ids seen by forward (fp32)
  bool deferred_ = false;  // the last forward ran embedding_forward_deferred
  Tensor idscast_, dycast_, y_, dx_;
};

}  // namespace mp
