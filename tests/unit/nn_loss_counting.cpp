// nn_loss_counting.cpp: which samples a loss counts in its means (Loss::counted_rows), the
// denominator the trainer and evaluation divide by: cross_entropy leaves ignore_index labels out
// (any ignore_index, also one inside the class range), mse counts every row.
#include <doctest/doctest.h>

#include <vector>

#include "core/error.h"
#include "nn/loss.h"

using namespace mp;

TEST_CASE("cross_entropy counts the labels that are not ignore_index") {
  const std::vector<int32_t> labels = {3, -100, 0, -100, -100, 7};
  CrossEntropyLoss ce(-100);
  CHECK(ce.counted_rows(labels, 6) == 3);
  CHECK(ce.counts_label(0));
  CHECK_FALSE(ce.counts_label(-100));
  CHECK(ce.counted_rows(std::vector<int32_t>(4, -100), 4) == 0);  // an all-ignored batch counts 0
  CrossEntropyLoss ignore_zero(0);                                 // a class index used as ignore_index
  CHECK(ignore_zero.counted_rows(labels, 6) == 5);
  CHECK(make_loss("cross_entropy", 7)->counted_rows(labels, 6) == 5);
  // one label per row, or it is a bug in the caller
  CHECK_THROWS_AS(ce.counted_rows(labels, 5), InternalError);
}

TEST_CASE("mse counts every row, labels or not") {
  MseLoss mse;
  CHECK(mse.counted_rows({}, 9) == 9);
  CHECK(mse.counts_label(-100));
  CHECK(make_loss("mse", -100)->counted_rows({}, 2) == 2);
}
