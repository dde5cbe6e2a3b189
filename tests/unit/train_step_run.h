// train_step_run.h: a small training harness over TrainStep for the train_* unit tests (graph
// passes on the CPU and CUDA engines): a model built from layer specs, AdamW, a loss scaler, two
// fixed device micro-batches re-uploaded with new data every step (as the trainer's DeviceBatch
// does, so their addresses stay put), and optionally StepGraphs.
#pragma once
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "nn/loss.h"
#include "nn/model.h"
#include "optim/lr_schedule.h"
#include "optim/optimizer.h"
#include "optim/optimizer_step.h"
#include "precision/loss_scaler.h"
#include "train/step_graphs.h"
#include "train/train_step.h"

namespace mp::test {

inline LayerSpec layer(const std::string& type, std::map<std::string, ParamValue> kv = {}) {
  LayerSpec s = default_layer_spec(type);
  for (auto& [k, v] : kv) s.params[k] = v;
  s.where = "test";
  return s;
}

inline uint64_t bits(double d) {
  uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
}

inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Every parameter's fp32 master values, concatenated in model order.
inline std::vector<float> master_values(Backend& be, Model& model) {
  std::vector<float> all;
  for (Parameter* p : model.params()) {
    const std::vector<float> v = to_host_floats(be, p->master);
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

// The tests' optimizer: AdamW, lr 0.01, weight decay 0.01.
inline OptimizerSpec adamw_spec() {
  OptimizerSpec os;
  os.type = "adamw";
  os.lr = 0.01;
  os.weight_decay = 0.01;
  return os;
}

struct StepRunOptions {
  DType compute = DType::BF16;  // with fp32 masters
  LossScaleMode scale_mode = LossScaleMode::None;
  double scale = 1024.0;
  std::vector<int64_t> inject_nonfinite_grad_steps;
  bool graphs = false;
  int64_t batch = 16, classes = 10;
};

struct StepRun {
  std::unique_ptr<Backend> be;
  std::unique_ptr<Model> model;
  std::unique_ptr<Loss> loss;
  std::unique_ptr<Optimizer> opt;
  std::unique_ptr<LrSchedule> sched;
  std::unique_ptr<LossScaler> scaler;
  std::unique_ptr<StepGraphs> graphs;
  std::unique_ptr<TrainStep> step;
  int64_t batch, in, classes;
  Tensor x[2], y[2];
  // New device batch tensors every step, the old ones kept alive (so the addresses differ).
  bool fresh_batches = false;
  std::vector<Tensor> retired;

  // `layers` map `in` inputs to o.classes logits.
  StepRun(std::unique_ptr<Backend> backend, const std::vector<LayerSpec>& layers, int64_t inputs,
          const StepRunOptions& o)
      : be(std::move(backend)), batch(o.batch), in(inputs), classes(o.classes) {
    ModelOptions mo;
    mo.compute = o.compute;
    mo.master_fp32 = true;
    mo.seed = 3;
    model = Model::build(*be, layers, {in}, mo);
    loss = make_loss("cross_entropy", -100);
    const OptimizerSpec os = adamw_spec();
    opt = make_optimizer(os, 5);
    sched = std::make_unique<LrSchedule>(ScheduleSpec{}, os.lr);
    LossScaleSpec ls;
    ls.value = o.scale;
    scaler = std::make_unique<LossScaler>(o.scale_mode, ls);
    step.reset(new TrainStep{*be, *model, *loss, *opt, *sched, *scaler, 100, 1.0,
                             o.inject_nonfinite_grad_steps});
    if (o.graphs) {
      graphs = std::make_unique<StepGraphs>(*be);
      step->graphs = graphs.get();
    }
    zero_grads(*be, model->trainable_params());
    for (int m = 0; m < 2; ++m) {
      x[m] = be->empty({batch, in}, DType::F32);
      y[m] = be->empty({batch}, DType::I32);
    }
  }

  // One optimizer step of two micro-batches drawn from seed s.
  StepOutcome train(int s) {
    const StepNormalisation norm = step_normalisation(2 * batch, scaler->scale());
    for (int m = 0; m < 2; ++m) {
      std::mt19937 g(uint32_t(10 * s + m));
      std::uniform_real_distribution<float> d(-1.0f, 1.0f);
      std::vector<float> xv(static_cast<size_t>(batch * in));
      for (float& v : xv) v = d(g);
      std::vector<int32_t> yv(static_cast<size_t>(batch));
      for (size_t i = 0; i < yv.size(); ++i) yv[i] = int32_t((i * 7 + size_t(s + m)) % size_t(classes));
      if (fresh_batches) {
        retired.push_back(x[m]);
        x[m] = be->empty({batch, in}, DType::F32);
        y[m] = be->empty({batch}, DType::I32);
      }
      be->upload(xv.data(), x[m]);
      be->upload(yv.data(), y[m]);
      Context ctx{*be, true, 1, uint64_t(2 * s + m)};
      step->micro_batch(ctx, x[m], y[m], norm.grad_scale);
    }
    return step->finish(norm);
  }

  std::vector<float> params() { return master_values(*be, *model); }
};

}  // namespace mp::test
