// train_token_counts.cpp: a sequence step is normalised per counted token: step_normalisation
// counts the labels of [B, T] batches that are not ignore_index (over every micro-batch), so the
// gradient scale is S / tokens and the reported loss nats per token.
#include <doctest/doctest.h>

#include "nn/loss.h"
#include "train/step_normalisation.h"

using namespace mp;

TEST_CASE("step normalisation counts tokens, not samples, for labels [B, T]") {
  CrossEntropyLoss ce(-100);
  Batch a, b;
  a.size = a.num_real = 2;  // 2 samples x 3 tokens, one ignored
  a.y_shape = {2, 3};
  a.labels = {1, 2, -100, 0, 0, 4};
  b.size = b.num_real = 1;  // 1 sample x 3 tokens, two ignored
  b.y_shape = {1, 3};
  b.labels = {-100, 5, -100};
  const StepNormalisation n = step_normalisation(ce, {a, b}, 1024.0, nullptr);
  CHECK(n.count == 6);
  CHECK(n.grad_scale == 1024.0f / 6.0f);
  CHECK(n.mean_loss(3.0) == doctest::Approx(0.5));
}
