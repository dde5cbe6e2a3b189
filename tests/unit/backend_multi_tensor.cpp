// backend_multi_tensor.cpp: the issue-12 ops on the CPU engine against the ops they replace, bit
// for bit (multi_tensor_check.h; backend_cuda_parity.cpp runs the same checks on the GPU), at 1
// and 2 threads, and the host-read counter of the ops that return host data.
#include <doctest/doctest.h>

#include "unit/backend_test_util.h"
#include "unit/multi_tensor_check.h"

using namespace mp;

TEST_CASE("check_grads: the flags and norm bits of check_grad per gradient, in list order") {
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    auto be = make_cpu_backend(threads);
    multi_test::check_grads_matches_loop(*be);
  }
}

TEST_CASE("adamw_step_multi: the bits of adamw_step_fused per parameter") {
  auto be = make_cpu_backend(2);
  multi_test::adamw_multi_matches_fused(*be);
}

TEST_CASE("sgd_step_multi: the bits of sgd_step_fused per parameter") {
  auto be = make_cpu_backend(2);
  multi_test::sgd_multi_matches_fused(*be);
}

TEST_CASE("sum_into: the fp64 total of sum() in call order, read back once") {
  multi_test::sum_into_matches_sum(test::cpu_be());
}

TEST_CASE("softmax_xent_deferred: softmax_xent's bits; a bad label recorded, not raised") {
  multi_test::softmax_xent_deferred_matches(test::cpu_be());
}

TEST_CASE("host_reads: each op that returns host data counts one read, device-side ops none") {
  Backend& be = test::cpu_be();
  Tensor x = test::make(be, {1.0f, -2.0f, 3.0f}, {3}, DType::F32);
  std::vector<float> h(3);
  int64_t n = be.host_reads();
  be.download(x, h.data());
  CHECK(be.host_reads() == ++n);
  (void)be.sum(x);
  CHECK(be.host_reads() == ++n);
  (void)be.sum_squares(x);
  CHECK(be.host_reads() == ++n);
  (void)be.check_grad(x, 1.0f);
  CHECK(be.host_reads() == ++n);
  (void)be.unscale_and_check(x, 1.0f);
  CHECK(be.host_reads() == ++n);
  int64_t below = 0;
  float max_abs = 0.0f;
  be.magnitude_stats(x, 1.0f, 1e-3f, below, max_abs);
  CHECK(be.host_reads() == ++n);
  Tensor stats = be.make_step_stats();
  be.sum_into(x, stats, kStatLossSum);
  be.scale(x, 2.0f);
  be.clear_step_stats(stats);
  CHECK(be.host_reads() == n);
  (void)be.read_step_stats(stats);
  CHECK(be.host_reads() == ++n);
}

TEST_CASE("step stats: argument checks") {
  Backend& be = test::cpu_be();
  Tensor wrong = be.empty({kStepStatSlots}, DType::F32);
  Tensor x = test::make(be, {1.0f}, {1}, DType::F32);
  CHECK_THROWS_WITH_AS(be.sum_into(x, wrong, kStatLossSum),
                       doctest::Contains("sum_into: stats must be"), InternalError);
  Tensor stats = be.make_step_stats();
  CHECK_THROWS_WITH_AS(be.sum_into(x, stats, kStatGradFlags),
                       doctest::Contains("sum_into: slot must hold fp64"), InternalError);
  Tensor half = test::make(be, {1.0f}, {1}, DType::F16);
  CHECK_THROWS_WITH_AS(be.check_grads({&half}, 1.0f, stats),
                       doctest::Contains("check_grads: grad must be"), InternalError);
}
