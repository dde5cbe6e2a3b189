// train_cuda_graph.cpp: train.cuda_graph on the CUDA engine (needs a GPU; exit 77 = skipped):
// graph passes captured by stream capture and launched as CUDA graphs give the bits of eager CUDA
// execution -- a pass of ops with an allocation inside, replayed on new inputs, also after eager
// work has reused the allocator's blocks between replays (the allocator must hold the blocks a
// graph uses); and TrainStep training a bf16 model with accumulation 2 replays its graphs and
// matches eager CUDA training bit for bit. (The CPU twin of these checks: backend_op_graph and
// train_step_graphs.)
#include <doctest/doctest.h>

#include <cstring>

#include "unit/cuda_parity_util.h"
#include "unit/train_step_run.h"

using namespace mp;
using test::same_bits;

namespace {

[[maybe_unused]] const int kSkipped = cuda_test::skip_without_gpu();

// The CUDA engine; with MPTRAIN_CUDA_PARITY_SELFTEST=1 a CPU engine (a check of this test's own
// logic, not of CUDA graphs).
std::unique_ptr<Backend> engine() {
  return cuda_test::selftest() ? make_cpu_backend(1) : make_cuda_backend(0);
}

std::vector<float> rand_floats(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

// x -> layernorm -> gemm(+bias) -> gelu, softmax cross-entropy (deferred) of the result against
// labels, the loss summed into stats, and a temporary from empty() accumulated into acc.
struct Net {
  Backend& be;
  Tensor x, gamma, beta, mean, rstd, h, w, bias, y, z, labels, losses, dz, acc, stats;
  explicit Net(Backend& b) : be(b) {
    x = be.empty({64, 96}, DType::BF16);
    gamma = from_host_floats(be, rand_floats(96, 1), {96}, DType::F32);
    beta = from_host_floats(be, rand_floats(96, 2), {96}, DType::F32);
    mean = be.empty({64}, DType::F32);
    rstd = be.empty({64}, DType::F32);
    h = be.empty({64, 96}, DType::BF16);
    w = from_host_floats(be, rand_floats(40 * 96, 3), {40, 96}, DType::BF16);
    bias = from_host_floats(be, rand_floats(40, 4), {40}, DType::F32);
    y = be.empty({64, 40}, DType::BF16);
    z = be.empty({64, 40}, DType::BF16);
    labels = be.empty({64}, DType::I32);
    losses = be.empty({64}, DType::F32);
    dz = be.empty({64, 40}, DType::BF16);
    acc = from_host_floats(be, std::vector<float>(64 * 40, 0.0f), {64, 40}, DType::F32);
    stats = be.make_step_stats();
  }
  void set_input(uint32_t seed) {
    const Tensor xf = from_host_floats(be, rand_floats(64 * 96, seed), {64, 96}, DType::F32);
    be.cast(xf, x);
    std::vector<int32_t> l(64);
    for (size_t i = 0; i < l.size(); ++i) l[i] = int32_t((i * 13 + seed) % 40);
    be.upload(l.data(), labels);
  }
  void ops() {
    be.layernorm_forward(x, gamma, beta, 1e-5f, h, mean, rstd);
    be.gemm(false, true, 1.0f, h, w, 0.0f, y, &bias);
    be.activation_forward(Act::GeluTanh, y, z);
    be.softmax_xent_deferred(z, labels, -100, 0.5f, losses, &dz, stats);
    be.sum_into(losses, stats, kStatLossSum);
    Tensor tmp = be.empty({64, 40}, DType::F32);
    be.cast(dz, tmp);
    be.accumulate(tmp, acc);
  }
  std::vector<float> state() {
    std::vector<float> v = to_host_floats(be, z);
    for (const Tensor* t : {&dz, &acc, &losses}) {
      const std::vector<float> a = to_host_floats(be, *t);
      v.insert(v.end(), a.begin(), a.end());
    }
    const StepStats s = be.read_step_stats(stats);
    v.push_back(static_cast<float>(s.loss_sum));
    return v;
  }
};

}  // namespace

TEST_CASE("cuda graph: captured and replayed passes equal eager CUDA, also after allocator reuse") {
  auto be = engine(), ref_be = engine();
  Net net(*be), ref(*ref_be);
  OpGraph g;
  for (uint32_t step = 0; step < 5; ++step) {
    CAPTURE(step);
    net.set_input(step + 10);
    ref.set_input(step + 10);
    be->graph_begin(g);
    net.ops();
    const GraphPass p = be->graph_end();
    CHECK(p == (step == 0 ? GraphPass::Captured : GraphPass::Replayed));
    CHECK_MESSAGE(g.last_fallback().empty(), g.last_fallback());
    ref.ops();
    CHECK(same_bits(net.state(), ref.state()));
    // Eager work between replays takes whatever blocks the allocator has cached: none of them
    // may be one the graph still uses.
    std::vector<Tensor> junk;
    for (int i = 0; i < 8; ++i) {
      junk.push_back(be->empty({64, 40}, DType::F32));
      be->fill(junk.back(), 1e30f);
    }
  }
}

namespace {

test::StepRun make_run(bool graphs) {
  test::StepRunOptions o;
  o.graphs = graphs;
  o.batch = 48;
  return test::StepRun(engine(),
                       {test::layer("linear", {{"out", int64_t(64)}}), test::layer("gelu"),
                        test::layer("layernorm"), test::layer("linear", {{"out", int64_t(10)}})},
                       32, o);
}

}  // namespace

TEST_CASE("cuda graph: TrainStep with graphs trains like eager CUDA, bit for bit") {
  test::StepRun eager = make_run(false), graphed = make_run(true);
  for (int s = 1; s <= 6; ++s) {
    CAPTURE(s);
    const StepOutcome e = eager.train(s), g = graphed.train(s);
    CHECK(std::memcmp(&e.loss_sum, &g.loss_sum, sizeof(double)) == 0);
    CHECK(same_bits(graphed.params(), eager.params()));
  }
  const StepGraphs::Counts& c = graphed.graphs->counts();
  CHECK_MESSAGE(!graphed.graphs->off(), graphed.graphs->off_reason());
  CHECK(c.captured == 2);
  CHECK(c.replayed == 8);
  CHECK(c.fell_back == 0);
}
