// spec_schema.cpp: THE table of run-spec keys. One bind() per key: dotted path, RunSpec member,
// rule, doc. Add a key here (and to the struct) and it is loaded, validated, dumped, listed by
// --print-reference and checked against configs/REFERENCE.md; nothing else to edit.
// Cross-field rules (nesterov needs momentum, loss_scale.mode auto) live in spec_resolve.cpp.
#include "config/spec_schema.h"

#include <limits>

namespace mp {

std::string_view field_type_name(const FieldRef& ref) {
  struct Name {
    std::string_view operator()(int64_t*) const { return "integer"; }
    std::string_view operator()(double*) const { return "number"; }
    std::string_view operator()(bool*) const { return "bool"; }
    std::string_view operator()(std::string*) const { return "string"; }
    std::string_view operator()(std::vector<int64_t>*) const { return "list of integers"; }
    std::string_view operator()(std::vector<std::string>*) const { return "list of strings"; }
    std::string_view operator()(std::vector<LayerSpec>*) const { return "list of layers"; }
  };
  return std::visit(Name{}, ref);
}

void visit_spec(SpecVisitor& v, RunSpec& s) {
  using namespace check;
  bind(v, "name", s.name, identifier(), "run name; the default output.dir is runs/{name}");
  bind(v, "seed", s.seed, non_negative(),
       "seed of every random stream (initialisation, shuffling, dropout); same seed, same run");
  bind(v, "device", s.device, one_of({"auto", "cpu", "cuda"}),
       "auto: CUDA when a GPU is present, else the CPU; --device overrides it");
  bind(v, "threads", s.threads, non_negative(), "CPU threads; 0 = OMP_NUM_THREADS or all cores");

  section(v, "data", "training and validation data (HDF5)");
  bind(v, "data.file", s.data.file, required(),
       "HDF5 file; a relative path resolves against the directory mptrain runs in, then the spec file's folder");
  section(v, "data.train", "the training split");
  bind(v, "data.train.x", s.data.train.x, non_empty(), "HDF5 dataset of the training inputs");
  bind(v, "data.train.y", s.data.train.y, non_empty(),
       "HDF5 dataset of the training labels (cross_entropy) or targets (mse)");
  section(v, "data.val", "the validation split");
  bind(v, "data.val.x", s.data.val.x, none(), "HDF5 dataset of the validation inputs; \"\" = no validation");
  bind(v, "data.val.y", s.data.val.y, none(), "HDF5 dataset of the validation labels or targets");
  bind(v, "data.input_scale", s.data.input_scale, none(),
       "inputs are multiplied by this as they are read (0.00392156862745098 = 1/255 for uint8 images)");
  bind(v, "data.batch_size", s.data.batch_size, at_least(1), "samples per micro-batch, per rank");
  bind(v, "data.shuffle", s.data.shuffle, none(),
       "reshuffle the training split every epoch (seeded); the order takes 4 bytes per sample, "
       "so a shuffled split holds at most 268435456 samples (false: any size, no memory)");
  bind(v, "data.drop_last", s.data.drop_last, none(),
       "drop the last incomplete batch of an epoch; a kept one's step is the mean over the samples it has");
  bind(v, "data.in_memory", s.data.in_memory, none(), "read each split into memory at start");
  bind(v, "data.prefetch", s.data.prefetch, at_least(1),
       "batches prepared ahead by the background reader thread");
  bind(v, "data.check_finite", s.data.check_finite, none(),
       "also scan every split for NaN/Inf before training (exit 3 naming the first bad sample); "
       "without it, each batch is still checked as it loads and the first bad one ends the run "
       "with exit 3");
  bind(v, "data.format", s.data.format, one_of({"samples", "tokens"}),
       "samples: x [N, ...] with one y row per sample; tokens: data.train.x and data.val.x are 1-D "
       "token-id streams (e.g. /train/tokens) with the vocabulary at /vocab, cut into windows of "
       "data.context + 1 tokens (inputs: the first context, labels: the next token at each "
       "position); data.*.y are not used");
  bind(v, "data.context", s.data.context, non_negative(),
       "tokens: window length T (model.input_shape must be [T]; [] = [T]); an epoch is "
       "floor(train tokens / T) windows at seeded random starts (data.shuffle: false: the "
       "non-overlapping windows in order); validation is always the non-overlapping windows in order");

  section(v, "model", "the network and its loss");
  bind(v, "model.input_shape", s.model.input_shape, at_least(1),
       "per-sample input shape, e.g. [784]; [] = taken from the data file");
  bind(v, "model.layers", s.model.layers, required(),
       "the layers in order; see \"Layers\" below for every type and parameter");
  bind(v, "model.loss", s.model.loss, one_of({"cross_entropy", "mse"}),
       "training loss (always computed in fp32)");
  bind(v, "model.ignore_index", s.model.ignore_index, none(),
       "cross_entropy: samples (tokens, for data.format: tokens) with this label are left out "
       "of the loss, of the count its means divide by (training steps, val_loss) and of "
       "val_accuracy; a step with only such labels makes no update; a split whose labels are "
       "all this value is a data error (exit 3)");
  bind(v, "model.num_classes", s.model.num_classes, non_negative(),
       "cross_entropy: number of classes; 0 = the last layer's output width");

  section(v, "precision", "mixed-precision policy");
  bind(v, "precision.policy", s.precision.policy, one_of({"fp32", "fp16", "bf16", "auto"}),
       "compute dtype of activations and GEMM inputs; weights keep an fp32 master copy; auto = "
       "decided from the device at start (bf16 where native, fp16 on GPUs before sm_80, else "
       "fp32); --print-config shows auto, the run's config.yaml the choice");
  bind(v, "precision.master_weights", s.precision.master_weights, one_of({"fp32", "none"}),
       "fp32: fp32 master weights; none: pure low precision (bf16 rounds updates stochastically)");
  bind(v, "precision.allow_tf32", s.precision.allow_tf32, none(),
       "GPU, fp32 policy: let GEMMs use TF32 tensor cores");
  bind(v, "precision.fp32_layers", s.precision.fp32_layers, none(),
       "names of layers kept in fp32 whatever the policy (same as precision: fp32 on the layer)");
  bind(v, "precision.allreduce_dtype", s.precision.allreduce_dtype, one_of({"fp32", "bf16"}),
       "dtype of the gradient all-reduce across ranks: fp32, or bf16 (half the bytes; each rank's "
       "gradient and the sum are rounded to bf16, lossy); weight gradients always accumulate in fp32");
  bind(v, "precision.telemetry_every", s.precision.telemetry_every, non_negative(),
       "steps between precision telemetry rows (overflow and underflow counts); 0 = off");

  section(v, "precision.loss_scale", "loss scaling (the backward pass starts from loss x scale)");
  auto& ls = s.precision.loss_scale;
  // A scale is used as an fp32 factor: positive and at most fp32's largest value. (min_scale needs
  // no bound of its own: a dynamic init must be >= it, spec_resolve.cpp.)
  const Rule kScaleRange = range(0, true, std::numeric_limits<float>::max(), false);
  bind(v, "precision.loss_scale.mode", ls.mode, one_of({"auto", "dynamic", "static", "none"}),
       "auto: dynamic for fp16, none otherwise (the resolved spec shows the result)");
  bind(v, "precision.loss_scale.init", ls.init, kScaleRange, "dynamic: initial scale");
  bind(v, "precision.loss_scale.growth_factor", ls.growth_factor, greater_than(1),
       "dynamic: the scale is multiplied by this after growth_interval clean steps");
  bind(v, "precision.loss_scale.backoff_factor", ls.backoff_factor, range(0, true, 1, true),
       "dynamic: the scale is multiplied by this on overflow (after hysteresis runs out)");
  bind(v, "precision.loss_scale.growth_interval", ls.growth_interval, at_least(1),
       "dynamic: clean steps in a row before the scale grows");
  bind(v, "precision.loss_scale.hysteresis", ls.hysteresis, at_least(1),
       "dynamic: overflows tolerated before backing off (1 = PyTorch GradScaler)");
  bind(v, "precision.loss_scale.min_scale", ls.min_scale, positive(),
       "dynamic: the scale is never backed off below this");
  bind(v, "precision.loss_scale.max_consecutive_skips", ls.max_consecutive_skips, at_least(1),
       "overflowing steps in a row after which the run stops (exit 4)");
  bind(v, "precision.loss_scale.value", ls.value, kScaleRange, "static: the fixed scale");

  section(v, "optimizer", "optimizer (math and state always fp32)");
  bind(v, "optimizer.type", s.optimizer.type, one_of({"adamw", "sgd"}), "optimizer");
  bind(v, "optimizer.lr", s.optimizer.lr, positive(), "peak learning rate");
  bind(v, "optimizer.weight_decay", s.optimizer.weight_decay, non_negative(),
       "decoupled weight decay for adamw, L2 for sgd; biases and norms are not decayed");
  bind(v, "optimizer.beta1", s.optimizer.beta1, range(0, false, 1, true), "adamw: first-moment decay");
  bind(v, "optimizer.beta2", s.optimizer.beta2, range(0, false, 1, true), "adamw: second-moment decay");
  bind(v, "optimizer.eps", s.optimizer.eps, positive(), "adamw: added to the denominator");
  bind(v, "optimizer.momentum", s.optimizer.momentum, range(0, false, 1, true), "sgd: momentum");
  bind(v, "optimizer.nesterov", s.optimizer.nesterov, none(),
       "sgd: Nesterov momentum (needs momentum > 0)");
  bind(v, "optimizer.grad_clip_norm", s.optimizer.grad_clip_norm, non_negative(),
       "clip the global norm of the unscaled gradients to this; 0 = off");
  bind(v, "optimizer.freeze", s.optimizer.freeze, none(),
       "parameter names or prefixes not trained (\"fc1\" = fc1.weight and fc1.bias; a trailing * "
       "matches any continuation): no weight-gradient GEMM, no optimizer state; input gradients "
       "still flow through them; an entry that matches no parameter is an error");

  section(v, "schedule", "learning-rate schedule (a skipped step does not advance it)");
  bind(v, "schedule.type", s.schedule.type, one_of({"constant", "cosine", "linear", "step"}),
       "shape after warmup: constant, cosine or linear decay to lr * min_lr_ratio, step decay");
  bind(v, "schedule.warmup_steps", s.schedule.warmup_steps, non_negative(),
       "linear warmup from 0 to lr over this many steps");
  bind(v, "schedule.min_lr_ratio", s.schedule.min_lr_ratio, range(0, false, 1, false),
       "cosine, linear: the last step runs at lr * min_lr_ratio");
  bind(v, "schedule.step_size", s.schedule.step_size, at_least(1), "step: decay every step_size steps");
  bind(v, "schedule.gamma", s.schedule.gamma, positive(), "step: multiply the lr by gamma");

  section(v, "train", "the training loop");
  bind(v, "train.steps", s.train.steps, non_negative(), "optimizer steps; 0 = run train.epochs epochs");
  bind(v, "train.epochs", s.train.epochs, at_least(1), "epochs, used when train.steps is 0");
  bind(v, "train.accum_steps", s.train.accum_steps, at_least(1),
       "micro-batches per optimizer step (gradient accumulation); the step's loss and gradient are "
       "the mean over all the samples of its micro-batches, as one batch would give");
  bind(v, "train.log_every", s.train.log_every, at_least(1),
       "steps between metrics.csv rows (a row's loss is the mean over its steps)");
  bind(v, "train.eval_every", s.train.eval_every, non_negative(),
       "steps between evaluations; 0 = at the end of each epoch");
  bind(v, "train.checkpoint_every", s.train.checkpoint_every, non_negative(),
       "steps between checkpoints; 0 = only at the end");
  bind(v, "train.keep_checkpoints", s.train.keep_checkpoints, at_least(1),
       "newest checkpoints kept on disk");
  bind(v, "train.init_from", s.train.init_from, none(),
       "fine-tuning: an mptrain checkpoint, export file or any HDF5 file with /params/<name> "
       "(fp32/fp16/bf16) whose values start the run; optimizer, loss scale, data position and "
       "step start fresh; ignored when --resume restores a checkpoint; \"\" = off");
  bind(v, "train.init_exclude", s.train.init_exclude, none(),
       "with init_from: parameter names or prefixes left at their initialiser (a new head); they "
       "may be missing or of another shape in the file");
  bind(v, "train.cuda_graph", s.train.cuda_graph, none(),
       "capture each micro-batch's forward, loss and backward as a CUDA graph once and replay it "
       "while the step makes the same ops on the same buffers (same results, bit for bit; fewer "
       "launches); a step that differs (a short last batch, a new loss scale) runs "
       "eagerly and is captured again, and graphs switch off with a warning when that repeats. "
       "On the CPU engine the recorded ops are replayed from the host (no speed-up; it checks "
       "that a spec is graph-safe without a GPU)");

  section(v, "output", "where results go");
  bind(v, "output.dir", s.output.dir, non_empty(),
       "run directory; {name}, {seed} and any {section.key} are filled from the resolved spec; "
       "--out overrides it");

  section(v, "dist", "data-parallel training across processes (scripts/launch.sh)");
  bind(v, "dist.zero", s.dist.zero, range(0, false, 1, false),
       "1 = ZeRO-1: each rank keeps the optimizer state of 1/world of the parameters' elements "
       "(gradients reduce-scattered, updated weights all-gathered); same results as 0; one "
       "process: no effect on memory");

  section(v, "debug", "testing aids");
  bind(v, "debug.inject_nonfinite_grad_steps", s.debug.inject_nonfinite_grad_steps, at_least(1),
       "poison one gradient with Inf at these optimizer steps (1-based) to exercise the scaler");
  bind(v, "debug.inject_rank", s.debug.inject_rank, at_least(-1),
       "multi-process: poison only this rank's gradient (after the all-reduce); -1 = every rank");
}

}  // namespace mp
