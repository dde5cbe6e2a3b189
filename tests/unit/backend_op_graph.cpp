// backend_op_graph.cpp: Backend's graph passes (backend.h "op graphs", op_graph.h) on the CPU
// engine, which replays the recorded hooks where CUDA launches its captured graph: a capture pass
// runs nothing until graph_end; a verify pass that makes the same ops on the same tensors replays
// them (on new data uploaded outside the pass); a changed scalar, a different allocation, a host
// read, a missing op or an exception make the pass fall back, with a reason, and every result is
// eager execution's, bit for bit.
#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "unit/backend_test_util.h"

using namespace mp;

namespace {

// x [4, 8] -> y = x w^T + bias [4, 6] -> z = relu(y); the sum of z into stats; a scratch tensor
// from empty() inside the ops (tmp = 2 z, accumulated into acc).
struct Net {
  Backend& be;
  Tensor x, w, bias, y, z, acc, stats;
  explicit Net(Backend& b) : be(b) {
    x = test::make(be, std::vector<float>(32, 0.0f), {4, 8}, DType::F32);
    w = test::make(be, test::random_floats(48, -1, 1, 7, DType::F32), {6, 8}, DType::F32);
    bias = test::make(be, test::random_floats(6, -1, 1, 8, DType::F32), {6}, DType::F32);
    y = be.empty({4, 6}, DType::F32);
    z = be.empty({4, 6}, DType::F32);
    acc = test::make(be, std::vector<float>(24, 0.0f), {4, 6}, DType::F32);
    stats = be.make_step_stats();
    be.fill(y, 0.0f);
    be.fill(z, 0.0f);
  }
  void set_input(uint32_t seed) {
    const std::vector<float> v = test::random_floats(32, -1, 1, seed, DType::F32);
    be.upload(v.data(), x);  // outside any pass
  }
  // The ops of one pass; `alpha` and `tmp_rows` vary the arguments.
  void ops(float alpha = 1.0f, int64_t tmp_rows = 4) {
    be.gemm(false, true, alpha, x, w, 0.0f, y, &bias);
    be.activation_forward(Act::Relu, y, z);
    be.sum_into(z, stats, kStatLossSum);
    Tensor tmp = be.empty({tmp_rows, 6}, DType::F32);
    if (tmp_rows == 4) {
      be.add(z, z, tmp);
      be.accumulate(tmp, acc);
    }
  }
  std::vector<float> state() {
    std::vector<float> v = test::get(be, z);
    const std::vector<float> a = test::get(be, acc);
    v.insert(v.end(), a.begin(), a.end());
    const StepStats s = be.read_step_stats(stats);
    v.push_back(static_cast<float>(s.loss_sum));
    return v;
  }
};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("op graph: a capture pass runs at graph_end; verify passes replay on new inputs") {
  auto be = make_cpu_backend(1), ref_be = make_cpu_backend(1);
  Net net(*be), ref(*ref_be);
  OpGraph g;
  for (uint32_t step = 0; step < 4; ++step) {
    CAPTURE(step);
    net.set_input(step + 1);
    ref.set_input(step + 1);
    ref.ops();
    const std::vector<float> z_before = test::get(*be, net.z);
    be->graph_begin(g);
    CHECK(be->in_graph_pass());
    net.ops();
    // Nothing has run yet: the CPU engine's "graph" is the recorded hooks. (Read through the
    // host pointer: a download inside the pass would end it.)
    CHECK(std::memcmp(net.z.raw(), z_before.data(), z_before.size() * sizeof(float)) == 0);
    const GraphPass p = be->graph_end();
    CHECK(p == (step == 0 ? GraphPass::Captured : GraphPass::Replayed));
    CHECK(!be->in_graph_pass());
    CHECK(g.ops() == 5);
    CHECK(same_bits(net.state(), ref.state()));
  }
}

TEST_CASE("op graph: a verify pass gets the capture pass's allocations back") {
  auto be = make_cpu_backend(1);
  OpGraph g;
  void* first = nullptr;
  for (int pass = 0; pass < 3; ++pass) {
    be->graph_begin(g);
    Tensor t = be->empty({3, 5}, DType::BF16);
    be->fill(t, 1.0f);
    if (pass == 0) first = t.raw();
    CHECK(t.raw() == first);
    CHECK(be->graph_end() == (pass == 0 ? GraphPass::Captured : GraphPass::Replayed));
  }
}

TEST_CASE("op graph: a changed argument falls back with its reason; the next pass captures") {
  auto be = make_cpu_backend(1), ref_be = make_cpu_backend(1);
  Net net(*be), ref(*ref_be);
  OpGraph g;
  const auto pass = [&](uint32_t seed, float alpha) {
    net.set_input(seed);
    ref.set_input(seed);
    ref.ops(alpha);
    be->graph_begin(g);
    net.ops(alpha);
    return be->graph_end();
  };
  CHECK(pass(1, 1.0f) == GraphPass::Captured);
  CHECK(pass(2, 0.5f) == GraphPass::Eager);  // gemm's alpha (argument 1 of its hook) changed
  const std::string why = g.last_fallback();
  CHECK_MESSAGE(why.find("op 0 (gemm) has a different argument 1") != std::string::npos, why);
  CHECK_MESSAGE(why.find("loss scale") != std::string::npos, why);
  CHECK(!g.recorded());
  CHECK(same_bits(net.state(), ref.state()));
  CHECK(pass(3, 0.5f) == GraphPass::Captured);
  CHECK(pass(4, 0.5f) == GraphPass::Replayed);
  // A tensor at another address (a reallocated buffer) is a changed argument too.
  net.z = be->empty({4, 6}, DType::F32);
  ref.z = ref_be->empty({4, 6}, DType::F32);
  CHECK(pass(5, 0.5f) == GraphPass::Eager);
  CHECK_MESSAGE(g.last_fallback().find("activation_forward") != std::string::npos, g.last_fallback());
  CHECK(same_bits(net.state(), ref.state()));
}

TEST_CASE("op graph: a different allocation, a host read or a missing op fall back eagerly") {
  auto be = make_cpu_backend(1), ref_be = make_cpu_backend(1);
  Net net(*be), ref(*ref_be);
  OpGraph g;
  net.set_input(1);
  ref.set_input(1);
  be->graph_begin(g);
  net.ops();
  REQUIRE(be->graph_end() == GraphPass::Captured);
  ref.ops();

  SUBCASE("allocation of another shape") {
    be->graph_begin(g);
    net.ops(1.0f, 3);  // the scratch is [3, 6] and the add/accumulate are skipped
    CHECK(be->graph_end() == GraphPass::Eager);
    CHECK_MESSAGE(g.last_fallback().find("allocation 0 (fp32[3, 6])") != std::string::npos,
                  g.last_fallback());
    ref.ops(1.0f, 3);
  }
  SUBCASE("host read") {
    be->graph_begin(g);
    net.ops();
    const double s = be->sum(net.z);  // falls back first: the ops before it have run
    CHECK(be->graph_end() == GraphPass::Eager);
    CHECK_MESSAGE(g.last_fallback().find("sum inside the pass") != std::string::npos,
                  g.last_fallback());
    ref.ops();
    CHECK(s == ref_be->sum(ref.z));
  }
  SUBCASE("an op fewer") {
    be->graph_begin(g);
    be->gemm(false, true, 1.0f, net.x, net.w, 0.0f, net.y, &net.bias);
    CHECK(be->graph_end() == GraphPass::Eager);
    CHECK_MESSAGE(g.last_fallback().find("made 1 ops and 0 allocations, the captured one 5 and 1") !=
                      std::string::npos,
                  g.last_fallback());
    ref_be->gemm(false, true, 1.0f, ref.x, ref.w, 0.0f, ref.y, &ref.bias);
    CHECK(same_bits(test::get(*be, net.y), test::get(*ref_be, ref.y)));
  }
  CHECK(same_bits(net.state(), ref.state()));
}

TEST_CASE("op graph: an exception inside a pass aborts it; the backend works on") {
  auto be = make_cpu_backend(1);
  Net net(*be);
  OpGraph g;
  net.set_input(1);
  be->graph_begin(g);
  be->activation_forward(Act::Relu, net.y, net.z);
  Tensor wrong = be->empty({5, 6}, DType::F32);
  CHECK_THROWS_AS(be->add(net.z, wrong, net.z), InternalError);  // the front door's check
  be->graph_abort();
  CHECK(!be->in_graph_pass());
  CHECK(!g.recorded());
  CHECK_THROWS_AS(be->graph_end(), InternalError);  // no pass open
  be->graph_begin(g);
  CHECK_THROWS_AS(be->graph_begin(g), InternalError);  // passes do not nest
  be->graph_abort();
  be->fill(net.z, 2.0f);  // eager again
  CHECK(test::get(*be, net.z)[0] == 2.0f);
}

TEST_CASE("op graph: a hook built from other ops (CPU fused Linear+GELU) replays as one op") {
  auto be = make_cpu_backend(1), ref_be = make_cpu_backend(1);
  const auto build = [](Backend& b, Tensor& x, Tensor& w, Tensor& pre, Tensor& y) {
    x = b.empty({3, 16}, DType::BF16);
    w = test::make(b, test::random_floats(16 * 8, -1, 1, 5, DType::BF16), {8, 16}, DType::BF16);
    pre = b.empty({3, 8}, DType::BF16);
    y = b.empty({3, 8}, DType::BF16);
  };
  Tensor x, w, pre, y, rx, rw, rpre, ry;
  build(*be, x, w, pre, y);
  build(*ref_be, rx, rw, rpre, ry);
  OpGraph g;
  for (uint32_t s = 0; s < 3; ++s) {
    const std::vector<float> v = test::random_floats(48, -2, 2, 20 + s, DType::BF16);
    const Tensor xf = test::make(*be, v, {3, 16}, DType::F32), rxf = test::make(*ref_be, v, {3, 16}, DType::F32);
    be->cast(xf, x);
    ref_be->cast(rxf, rx);
    be->graph_begin(g);
    be->linear_gelu_forward(x, w, nullptr, pre, y);
    CHECK(be->graph_end() == (s == 0 ? GraphPass::Captured : GraphPass::Replayed));
    CHECK(g.ops() == 1);  // its gemm and activation ran inside the hook, not recorded apart
    ref_be->linear_gelu_forward(rx, rw, nullptr, rpre, ry);
    CHECK(same_bits(test::get(*be, y), test::get(*ref_be, ry)));
  }
}
