// train_step_graphs.cpp: train.cuda_graph through TrainStep on the CPU engine (whose graph passes
// replay the recorded hooks, where CUDA launches captured graphs; the capture/verify logic is the
// same): training with graphs gives the bits of training without them, step by step (parameters
// and the step's loss sum); the first micro-batch at each position runs eagerly, the second
// captures, later ones replay; a new loss scale (after a skipped step) falls back once and is
// captured again; dropout replays (its stream position is a device value uploaded before each
// micro-batch); batches at new addresses every step switch graphs off after
// StepGraphs::kGiveUpAfter misses, with the reason.
#include <doctest/doctest.h>

#include "unit/train_step_run.h"

using namespace mp;
using test::bits;
using test::layer;
using test::same_bits;

namespace {

// linear -> gelu (-> dropout) -> layernorm -> linear, bf16 with fp32 masters, dynamic scaling.
test::StepRun make_run(bool graphs, float dropout, std::vector<int64_t> inject) {
  std::vector<LayerSpec> layers{layer("linear", {{"out", int64_t(32)}}), layer("gelu"),
                                layer("layernorm"), layer("linear", {{"out", int64_t(10)}})};
  if (dropout > 0) layers.insert(layers.begin() + 2, layer("dropout", {{"p", double(dropout)}}));
  test::StepRunOptions o;
  o.scale_mode = LossScaleMode::Dynamic;
  o.inject_nonfinite_grad_steps = std::move(inject);
  o.graphs = graphs;
  return test::StepRun(make_cpu_backend(1), layers, 12, o);
}

}  // namespace

TEST_CASE("step graphs: the bits of eager training; a new loss scale is captured again") {
  // Step 4 is poisoned: skipped, the scale halves, so step 5's loss gradient scale differs.
  test::StepRun eager = make_run(false, 0.0f, {4}), graphed = make_run(true, 0.0f, {4});
  for (int s = 1; s <= 8; ++s) {
    CAPTURE(s);
    const StepOutcome e = eager.train(s), g = graphed.train(s);
    CHECK(e.skipped == (s == 4));
    CHECK(g.skipped == e.skipped);
    CHECK(bits(g.loss_sum) == bits(e.loss_sum));
    CHECK(bits(g.grad_norm) == bits(e.grad_norm));
    CHECK(same_bits(graphed.params(), eager.params()));
  }
  const StepGraphs::Counts& c = graphed.graphs->counts();
  CHECK(c.eager == 2);       // step 1: both positions warm up
  CHECK(c.captured == 4);    // steps 2 and 6
  CHECK(c.fell_back == 2);   // step 5: the scale changed
  CHECK(c.replayed == 8);    // steps 3, 4, 7, 8
  CHECK(!graphed.graphs->off());
}

TEST_CASE("step graphs: dropout replays with each micro-batch's masks (a device offset)") {
  test::StepRun eager = make_run(false, 0.25f, {}), graphed = make_run(true, 0.25f, {});
  for (int s = 1; s <= 5; ++s) {
    CAPTURE(s);
    const StepOutcome e = eager.train(s), g = graphed.train(s);
    CHECK(bits(g.loss_sum) == bits(e.loss_sum));
    CHECK(same_bits(graphed.params(), eager.params()));
  }
  const StepGraphs::Counts& c = graphed.graphs->counts();
  CHECK_MESSAGE(!graphed.graphs->off(), graphed.graphs->off_reason());
  CHECK(c.captured == 2);
  CHECK(c.replayed == 6);  // steps 3 to 5
}

TEST_CASE("step graphs: batches at new addresses every step switch graphs off, with the reason") {
  test::StepRun eager = make_run(false, 0.0f, {}), graphed = make_run(true, 0.0f, {});
  graphed.fresh_batches = true;  // a new input tensor every step: the captured address is gone
  for (int s = 1; s <= 8; ++s) {  // fallbacks at steps 3, 5, 7: off from step 7
    CAPTURE(s);
    const StepOutcome e = eager.train(s), g = graphed.train(s);
    CHECK(bits(g.loss_sum) == bits(e.loss_sum));
    CHECK(same_bits(graphed.params(), eager.params()));
  }
  const StepGraphs& sg = *graphed.graphs;
  CHECK(sg.off());
  CHECK_MESSAGE(sg.off_reason().find("has a different argument") != std::string::npos,
                sg.off_reason());
  CHECK(sg.counts().replayed == 0);
}
