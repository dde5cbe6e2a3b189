// train_cuda_graph.cpp: train.cuda_graph on the CUDA engine (needs a GPU; exit 77 = skipped):
// graph passes captured by stream capture and launched as CUDA graphs give the bits of eager CUDA
// execution -- a pass of ops with an allocation inside, replayed on new inputs, also after eager
// work has reused the allocator's blocks between replays (the allocator must hold the blocks a
// graph uses); and TrainStep training a bf16 model with accumulation 2 replays its graphs and
// matches eager CUDA training bit for bit. (The CPU twin of these checks: backend_op_graph and
// train_step_graphs.)
#include <doctest/doctest.h>

#include <cstring>

#include "nn/loss.h"
#include "nn/model.h"
#include "optim/lr_schedule.h"
#include "optim/optimizer.h"
#include "optim/optimizer_step.h"
#include "precision/loss_scaler.h"
#include "train/step_graphs.h"
#include "train/train_step.h"
#include "unit/cuda_parity_util.h"

using namespace mp;

namespace {

[[maybe_unused]] const int kSkipped = cuda_test::skip_without_gpu();

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
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
  if (cuda_test::selftest()) return;  // the CPU twin is backend_op_graph
  auto be = make_cuda_backend(0), ref_be = make_cuda_backend(0);
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

LayerSpec layer(const std::string& type, std::map<std::string, ParamValue> kv = {}) {
  LayerSpec s = default_layer_spec(type);
  for (auto& [k, v] : kv) s.params[k] = v;
  s.where = "test";
  return s;
}

struct Run {
  std::unique_ptr<Backend> be = make_cuda_backend(0);
  std::unique_ptr<Model> model;
  std::unique_ptr<Loss> loss;
  std::unique_ptr<Optimizer> opt;
  std::unique_ptr<LrSchedule> sched;
  std::unique_ptr<LossScaler> scaler;
  std::unique_ptr<StepGraphs> graphs;
  std::unique_ptr<TrainStep> step;
  Tensor x[2], y[2];

  explicit Run(bool use_graphs) {
    ModelOptions mo;
    mo.compute = DType::BF16;
    mo.master_fp32 = true;
    mo.seed = 3;
    model = Model::build(*be,
                         {layer("linear", {{"out", int64_t(64)}}), layer("gelu"),
                          layer("layernorm"), layer("linear", {{"out", int64_t(10)}})},
                         {32}, mo);
    loss = make_loss("cross_entropy", -100);
    OptimizerSpec os;
    os.type = "adamw";
    os.lr = 0.01;
    opt = make_optimizer(os, 5);
    sched = std::make_unique<LrSchedule>(ScheduleSpec{}, os.lr);
    scaler = std::make_unique<LossScaler>(LossScaleMode::None, LossScaleSpec{});
    step.reset(new TrainStep{*be, *model, *loss, *opt, *sched, *scaler, 100, 1.0, {}});
    if (use_graphs) {
      graphs = std::make_unique<StepGraphs>(*be);
      step->graphs = graphs.get();
    }
    zero_grads(*be, model->trainable_params());
    for (int m = 0; m < 2; ++m) {
      x[m] = be->empty({48, 32}, DType::F32);
      y[m] = be->empty({48}, DType::I32);
    }
  }
  StepOutcome train(int s) {
    const StepNormalisation norm = step_normalisation(96, scaler->scale());
    for (int m = 0; m < 2; ++m) {
      const std::vector<float> xv = rand_floats(48 * 32, uint32_t(10 * s + m));
      std::vector<int32_t> yv(48);
      for (size_t i = 0; i < yv.size(); ++i) yv[i] = int32_t((i * 7 + size_t(s + m)) % 10);
      be->upload(xv.data(), x[m]);
      be->upload(yv.data(), y[m]);
      Context ctx{*be, true, 1, uint64_t(2 * s + m)};
      step->micro_batch(ctx, x[m], y[m], norm.grad_scale);
    }
    return step->finish(norm);
  }
  std::vector<float> params() {
    std::vector<float> all;
    for (Parameter* p : model->params()) {
      const std::vector<float> v = to_host_floats(*be, p->master);
      all.insert(all.end(), v.begin(), v.end());
    }
    return all;
  }
};

}  // namespace

TEST_CASE("cuda graph: TrainStep with graphs trains like eager CUDA, bit for bit") {
  if (cuda_test::selftest()) return;  // the CPU twin is train_step_graphs
  Run eager(false), graphed(true);
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
