// backend_embedding_deferred.cpp: the CPU engine's deferred embedding ops against its raising
// ops (embedding_deferred_check.h; the CUDA engine runs the same checks in
// backend_cuda_parity.cpp), at 1 and 2 threads.
#include <doctest/doctest.h>

#include "unit/backend_test_util.h"
#include "unit/embedding_deferred_check.h"

using namespace mp;

TEST_CASE("deferred embedding ops: the raising ops' bits, the lowest bad id recorded, no read") {
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    auto be = make_cpu_backend(threads);
    embedding_test::embedding_deferred_matches(*be);
  }
}

TEST_CASE("deferred embedding ops: argument checks name the op") {
  auto be = make_cpu_backend(1);
  const Tensor ids = from_host_floats(*be, {0, 1}, {2}, DType::F32);
  const Tensor w = from_host_floats(*be, {1, 2, 3, 4}, {2, 2}, DType::F32);
  Tensor y = be->empty({2, 2}, DType::F32);
  Tensor wrong = be->empty({kStepStatSlots}, DType::F32);
  CHECK_THROWS_WITH_AS(be->embedding_forward_deferred(ids, w, y, wrong),
                       doctest::Contains("embedding_forward_deferred: stats must be"),
                       InternalError);
  Tensor stats = be->make_step_stats();
  Tensor dw = be->empty({2, 2}, DType::F16);  // the gradient table is fp32
  CHECK_THROWS_WITH_AS(be->embedding_backward_deferred(ids, y, dw, stats),
                       doctest::Contains("embedding_backward_deferred: dweight must be"),
                       InternalError);
}
