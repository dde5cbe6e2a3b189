#include "train/trainer.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "backend/backend.h"
#include "core/version.h"
#include "config/output_dir.h"
#include "config/spec_dump.h"
#include "data/data_loader.h"
#include "dist/communicator.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "optim/lr_schedule.h"
#include "optim/optimizer.h"
#include "optim/optimizer_step.h"
#include "precision/dtype_policy.h"
#include "precision/loss_scaler.h"
#include "precision/telemetry.h"
#include "checkpoint/atomic_file.h"
#include "checkpoint/checkpoint_compat.h"
#include "checkpoint/checkpoint_io.h"
#include "checkpoint/checkpoint_store.h"
#include "train/data_setup.h"
#include "train/device_batch.h"
#include "train/evaluate.h"
#include "train/grad_allreduce.h"
#include "train/init_from.h"
#include "data/data_file_path.h"
#include "config/did_you_mean.h"
#include "train/model_setup.h"
#include "train/param_select.h"
#include "train/progress.h"
#include "train/rank_agreement.h"
#include "checkpoint/resume_check.h"
#include "train/run_files.h"
#include "train/signals.h"
#include "train/step_graphs.h"
#include "train/step_normalisation.h"
#include "train/train_step.h"
#include "train/zero_optimizer.h"

namespace mp {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

class TrainerImpl {
 public:
  TrainerImpl(const RunSpec& spec, const TrainerOptions& opt);
  int run();

 private:
  // One step as the loop sees it: the optimizer step's outcome and what the metrics need.
  struct StepResult {
    StepOutcome outcome;
    double loss_mean = 0.0;
    double seconds = 0.0;
    int64_t samples = 0;  // over all ranks
    bool epoch_ended = false;
    bool stop = false;  // some rank got SIGINT/SIGTERM: every rank stops after this step
  };
  // The steps since the last metrics row (a row's loss is their mean, its samples/s their rate).
  struct Window {
    int64_t samples = 0;
    double seconds = 0.0;
    double loss = 0.0;
    int64_t steps = 0;
  };

  void build();
  void start_dist();
  void check_ranks(const RunData& data);
  void broadcast_params();
  void restore(const CheckpointData& ck, LoaderCursor at);
  bool maybe_resume();  // true when a checkpoint was restored
  void init_from();     // train.init_from, on a run that did not resume
  // Runs the micro-batches of one step (TrainStep::micro_batch: forward, loss x S / N, backward
  // into the fp32 grads; N from step_normalisation.h) and returns N. With `probe_step` > 0, the
  // first micro-batch is a probe pass: its rounding points (precision/telemetry.h) go to
  // telemetry.csv.
  StepNormalisation accumulate(int64_t& samples, bool& epoch_ended,
                               int64_t probe_step);
  StepResult train_one_step();
  void record_step(const StepResult& r, ProgressBar& bar);
  void open_run_logs();
  void require_some_update(int64_t first_step, int64_t applied_before) const;
  void print_result() const;
  double elapsed_s() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }
  void run_eval();
  void write_checkpoint();
  void write_summary(double wall_s);
  // `optimizer`: the whole optimizer state (dist.zero: 1: gathered by every rank first).
  CheckpointData snapshot(std::vector<CheckpointTensor> optimizer) const;
  std::vector<CheckpointTensor> optimizer_state() const;
  void log_state_bytes();

  RunSpec spec_;
  TrainerOptions opt_;
  DTypePolicy policy_;  // spec_.precision resolved, once (in build(): `auto` needs the backend)
  fs::path run_dir_;
  std::unique_ptr<Backend> be_;
  // The data-parallel job (the single-process communicator outside mpirun/srun). Only rank 0
  // (writer_) writes the run directory; every rank trains, evaluates its shard and logs warnings.
  std::unique_ptr<dist::Communicator> comm_;
  bool writer_ = true;
  std::unique_ptr<GradAllReduce> grad_reduce_;
  std::unique_ptr<ZeroOptimizer> zero_;  // dist.zero: 1
  std::unique_ptr<StepGraphs> graphs_;   // train.cuda_graph
  std::shared_ptr<const Split> train_split_, val_split_;
  std::shared_ptr<const TokenStream> val_tokens_;  // data.format: tokens
  std::unique_ptr<DataLoader> loader_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Loss> loss_;
  std::unique_ptr<Optimizer> optim_;
  std::unique_ptr<LrSchedule> schedule_;
  std::unique_ptr<LossScaler> scaler_;
  std::unique_ptr<TrainStep> train_step_;
  std::unique_ptr<MetricsLog> metrics_;
  std::unique_ptr<EvalLog> eval_log_;
  std::unique_ptr<CsvLog> telemetry_;
  DeviceBatch batch_;

  Clock::time_point t0_ = Clock::now();
  int64_t total_steps_ = 0;
  int64_t step_ = 0;         // attempted optimizer steps done
  int64_t first_step_ = 0;   // step_ when this process started training (after a resume)
  uint64_t micro_ = 0;       // micro-batches done: the dropout RNG offset
  int64_t samples_seen_ = 0; // training samples consumed in this process
  Window window_;
  double last_loss_ = NAN;
  double best_val_loss_ = INFINITY;
  EvalResult last_eval_;
  int64_t last_eval_step_ = -1;
  int64_t last_ckpt_step_ = -1;
  double train_seconds_ = 0.0;  // time inside training steps (for samples/s)
  ProgressBar* bar_ = nullptr;  // erased before a log line is printed under it
  void clear_bar() {
    if (bar_) bar_->clear();
  }
};

TrainerImpl::TrainerImpl(const RunSpec& spec, const TrainerOptions& opt)
    : spec_(spec),
      opt_(opt),
      run_dir_(opt.run_dir.empty() ? expand_output_dir(spec) : opt.run_dir) {}

void TrainerImpl::build() {
  be_ = make_backend({spec_.device, static_cast<int>(spec_.threads), spec_.precision.allow_tf32});
  start_dist();
  spdlog::info("device: {}", be_->name());
  // Before config.yaml and checkpoints are written from spec_: they show the policy chosen.
  const std::string chosen = resolve_auto_policy(spec_.precision, be_->native_low_precision());
  if (!chosen.empty()) spdlog::info("{}", chosen);
  policy_ = resolve_dtype_policy(spec_.precision);
  if (!policy_.warning.empty()) spdlog::warn("{}", policy_.warning);

  const RunData data = open_run_data(spec_);
  train_split_ = data.train;
  val_split_ = data.val;
  val_tokens_ = data.val_tokens;
  model_ = Model::build(*be_, spec_.model.layers, data.input_shape,
                        model_options(policy_, static_cast<uint64_t>(spec_.seed)));
  loss_ = make_loss(spec_.model.loss, spec_.model.ignore_index);
  check_run_data(spec_, data, *model_, *loss_);
  check_ranks(data);
  // Before the optimizer, the all-reduce and the gradients see the parameters: frozen ones have
  // no gradient buffer and no optimizer state.
  const std::vector<std::string> frozen = freeze_params(model_->params(), spec_.optimizer.freeze);
  if (!frozen.empty())
    spdlog::info("optimizer.freeze: {} parameter tensors frozen (no weight gradient, no optimizer "
                 "state): {}", frozen.size(), join(frozen));

  const LoaderOptions lo = loader_options(spec_.data, static_cast<uint64_t>(spec_.seed),
                                          comm_->rank(), comm_->world_size());
  loader_ = data.train_tokens ? std::make_unique<DataLoader>(data.train_tokens, lo)
                              : std::make_unique<DataLoader>(train_split_, lo);
  const int64_t per_epoch = loader_->batches_per_epoch() / spec_.train.accum_steps;
  if (spec_.train.steps > 0) {
    total_steps_ = spec_.train.steps;
  } else {
    if (per_epoch == 0)
      throw ConfigError("train.accum_steps: " + std::to_string(spec_.train.accum_steps) +
                        " micro-batches per step, but an epoch has only " +
                        std::to_string(loader_->batches_per_epoch()) +
                        " batches; lower train.accum_steps or data.batch_size, or set train.steps");
    total_steps_ = spec_.train.epochs * per_epoch;
  }
  optim_ = make_optimizer(spec_.optimizer, static_cast<uint64_t>(spec_.seed));
  optim_->set_stochastic_rounding(policy_.stochastic_rounding);
  schedule_ = std::make_unique<LrSchedule>(spec_.schedule, spec_.optimizer.lr);
  scaler_ = std::make_unique<LossScaler>(LossScaler::from_policy(policy_, spec_.precision.loss_scale));
  train_step_.reset(new TrainStep{*be_, *model_, *loss_, *optim_, *schedule_, *scaler_, total_steps_,
                                  spec_.optimizer.grad_clip_norm,
                                  spec_.debug.inject_nonfinite_grad_steps});
  if (comm_->world_size() > 1 || spec_.dist.zero == 1) {
    grad_reduce_ = std::make_unique<GradAllReduce>(*be_, *comm_, model_->trainable_params(),
                                                   policy_.allreduce, bucket_elements_from_env());
    train_step_->grad_reduce = grad_reduce_.get();
    if (spec_.dist.zero == 1) {
      zero_ = std::make_unique<ZeroOptimizer>(*be_, *grad_reduce_, model_->trainable_params());
      train_step_->zero = zero_.get();
    }
    train_step_->reduce_found_inf = [this](bool local) { return comm_->any(local); };
    // debug.inject_rank: poison only that rank's (already all-reduced) gradient.
    if (spec_.debug.inject_rank >= 0 && spec_.debug.inject_rank != comm_->rank())
      train_step_->inject_nonfinite_grad_steps.clear();
  }
  if (spec_.train.cuda_graph) {
    graphs_ = std::make_unique<StepGraphs>(*be_);
    train_step_->graphs = graphs_.get();
    spdlog::info("train.cuda_graph: micro-batches are captured once and replayed{}",
                 be_->device() == Device::CUDA
                     ? " as CUDA graphs"
                     : " from recorded host calls (CPU engine: no speed-up, same results)");
  }
  zero_grads(*be_, model_->trainable_params());
  // The policy's spellings, for the log only.
  spdlog::info("model: {} parameters, policy {} (master weights {}), loss scale {}, {} steps of {} x {} samples",
               model_->num_params(), spec_.precision.policy, spec_.precision.master_weights,
               loss_scale_mode_name(scaler_->mode()), total_steps_, spec_.train.accum_steps,
               spec_.data.batch_size);
  if (grad_reduce_)
    spdlog::info("data parallel: {} ranks x {} samples per micro-batch, gradients {} in {} "
                 "({} bucket{})", comm_->world_size(), spec_.data.batch_size,
                 zero_ ? "reduce-scattered (dist.zero: 1, optimizer state sharded)" : "all-reduced",
                 dtype_name(policy_.allreduce), grad_reduce_->buckets(),
                 grad_reduce_->buckets() == 1 ? "" : "s");
}

void TrainerImpl::start_dist() {
  comm_ = dist::make_communicator(*be_);
  writer_ = comm_->rank() == 0;
  if (comm_->world_size() == 1) {
    if (comm_->name() != "single process")  // MPTRAIN_DIST_FORCE: say which collectives run
      spdlog::info("{}: rank 0 of 1", comm_->name());
    return;
  }
  // Every line names its rank; the other ranks print warnings and errors only (rank 0 speaks
  // for the job).
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [rank " + std::to_string(comm_->rank()) + "] [%l] %v");
  if (!writer_ && spdlog::get_level() < spdlog::level::warn) spdlog::set_level(spdlog::level::warn);
  spdlog::info("{}: rank {} of {}", comm_->name(), comm_->rank(), comm_->world_size());
}

void TrainerImpl::check_ranks(const RunData& data) {
  std::error_code ec;
  const auto bytes = fs::file_size(resolve_data_file(spec_), ec);
  const std::string data_id = std::to_string(ec ? -1 : static_cast<int64_t>(bytes)) + " bytes, " +
                              std::to_string(data.train_size()) + " train, " +
                              std::to_string(data.val_size()) + " val";
  check_ranks_agree(*comm_, {{"the resolved spec", dump_spec(spec_)},
                             {"the model signature", make_model_signature(model_->params())},
                             {"the data file (size, split lengths)", data_id}});
}

void TrainerImpl::broadcast_params() {
  if (comm_->world_size() == 1) return;
  // Every rank built (or restored) the same values from the same seed or file; rank 0's are
  // made the truth anyway, bit for bit, and the working copies recast from them.
  for (Parameter* p : model_->params()) {
    comm_->broadcast(p->master, 0);
    sync_working(*be_, *p);
  }
}

std::vector<CheckpointTensor> TrainerImpl::optimizer_state() const {
  if (zero_) return zero_->gather_state(*optim_);  // a collective: every rank is here
  std::vector<CheckpointTensor> out;
  for (const std::string& slot : optim_->slot_names())
    for (const std::string& name : optim_->param_names())
      out.push_back({slot, name, {}, optim_->get_slot(*be_, slot, name)});
  return out;
}

// Every rank's optimizer-state bytes, logged by rank 0 (dist.zero: 1 holds 1/world each).
void TrainerImpl::log_state_bytes() {
  optim_->init_state(*be_, zero_ ? zero_->shard_params() : model_->trainable_params());
  const std::vector<uint64_t> all =
      comm_->all_gather_host({static_cast<uint64_t>(optim_->state_bytes())});
  std::string per_rank;
  uint64_t total = 0;
  for (uint64_t b : all) {
    per_rank += (per_rank.empty() ? "" : ", ") + std::to_string(b);
    total += b;
  }
  spdlog::info("optimizer state: {} bytes on {} rank{}{} (per rank: {})", total,
               comm_->world_size(), comm_->world_size() == 1 ? "" : "s",
               zero_ ? ", sharded" : comm_->world_size() == 1 ? "" : ", replicated", per_rank);
}

CheckpointData TrainerImpl::snapshot(std::vector<CheckpointTensor> optimizer) const {
  CheckpointData ck;
  ck.step = step_;
  ck.applied_steps = optim_->applied_steps();
  ck.epoch = loader_->cursor().epoch;
  ck.batch_in_epoch = loader_->cursor().batch;
  ck.rng_seed = static_cast<uint64_t>(spec_.seed);
  ck.rng_offset = micro_;
  ck.policy = dtype_name(policy_.compute);  // stored by name (the file format)
  ck.config_text = dump_spec(spec_);
  ck.model_signature = make_model_signature(model_->params());
  ck.mptrain_version = mptrain_version();
  ck.extra_ints["world_size"] = comm_->world_size();  // the data cursor counts this many shards
  ck.extra_ints["state_layout_version"] = kStateLayoutVersion;  // whole tensors, any world size
  for (const Parameter* p : model_->params())
    ck.params.push_back({"", p->name, p->master.shape(), to_host_floats(*be_, p->master)});
  for (CheckpointTensor& t : optimizer) {
    t.shape = model_->find_param(t.name)->master.shape();
    ck.optimizer.push_back(std::move(t));
  }
  ck.optimizer_step = optim_->applied_steps();
  ck.scaler = scaler_->state();
  if (std::isfinite(best_val_loss_)) ck.extra_strings["best_val_loss"] = format_number(best_val_loss_);
  return ck;
}

void TrainerImpl::restore(const CheckpointData& ck, LoaderCursor at) {
  for (const CheckpointTensor& t : ck.params) {
    Parameter* p = model_->find_param(t.name);
    MP_CHECK(p != nullptr, "check_compatible let through unknown parameter " + t.name);
    set_parameter_values(*be_, *p, from_host_floats(*be_, t.values, t.shape, DType::F32));
  }
  if (zero_) {
    zero_->load_state(*optim_, ck.optimizer);  // this rank's shard of the whole state
  } else {
    optim_->init_state(*be_, model_->trainable_params());
    for (const CheckpointTensor& t : ck.optimizer) optim_->set_slot(*be_, t.slot, t.name, t.values);
  }
  optim_->set_applied_steps(ck.applied_steps);
  scaler_->set_state(ck.scaler);
  loader_->seek(at);
  step_ = ck.step;
  micro_ = ck.rng_offset;
  if (auto it = ck.extra_strings.find("best_val_loss"); it != ck.extra_strings.end())
    best_val_loss_ = std::stod(it->second);
  last_ckpt_step_ = ck.step;
}

bool TrainerImpl::maybe_resume() {
  if (opt_.resume.empty()) return false;
  CheckpointData ck;
  std::string path;
  if (opt_.resume == "auto") {
    std::vector<std::string> warnings;
    auto found = find_resume_checkpoint(run_dir_, warnings);
    for (const auto& w : warnings) spdlog::warn("{}", w);
    if (!found) {
      spdlog::info("--resume auto: no checkpoint in {}, starting from scratch", run_dir_.string());
      return false;
    }
    path = found->path.string();
    ck = std::move(found->data);
  } else {
    path = opt_.resume;
    if (!fs::exists(path))
      throw ConfigError("--resume " + path + ": no such checkpoint file; give a step_*.h5 path or use --resume auto");
    ck = read_checkpoint(path);
  }
  check_resume(ck, path, spec_, policy_, make_model_signature(model_->params()),
               comm_->world_size());
  // Checkpoints hold whole tensors (state_layout_version, checkpoint_data.h) whatever world size
  // and dist.zero wrote them; only the data cursor depends on the world size, and it carries over
  // where each sample is still seen once per epoch (resume_cursor; ConfigError otherwise).
  const LoaderCursor at = resume_cursor(ck, path, spec_, comm_->world_size());
  const int64_t ck_world = checkpoint_world_size(ck);
  if (ck_world != comm_->world_size())
    spdlog::info("resume: checkpoint written by {} rank{}, continuing with {} at batch {} of epoch {}",
                 ck_world, ck_world == 1 ? "" : "s", comm_->world_size(), at.batch, at.epoch);
  restore(ck, at);
  spdlog::info("resumed from {} at step {} (epoch {}, batch {})", path, ck.step, ck.epoch, ck.batch_in_epoch);
  if (!spec_.train.init_from.empty())
    spdlog::info("train.init_from ignored: the resumed checkpoint's parameters win");
  return true;
}

void TrainerImpl::init_from() {
  if (spec_.train.init_from.empty()) return;
  const InitFromReport r =
      init_from_file(*be_, model_->params(), resolve_data_file(spec_.train.init_from, spec_.source),
                     spec_.train.init_exclude);
  spdlog::info("{}", init_from_log_line(r, model_->params().size()));
}

StepNormalisation TrainerImpl::accumulate(int64_t& samples, bool& epoch_ended,
                                          int64_t probe_step) {
  Context ctx{*be_, true, static_cast<uint64_t>(spec_.seed), 0};
  const int64_t accum = spec_.train.accum_steps;
  // The whole step's batches first: the gradient scale S / N needs N (over all ranks) before
  // the first backward.
  std::vector<Batch> micro(static_cast<size_t>(accum));
  for (Batch& b : micro) {
    b = loader_->next();
    drop_padding_rows(b);
  }
  const StepNormalisation norm = step_normalisation(*loss_, micro, scaler_->scale(), comm_.get());
  samples = 0;
  epoch_ended = false;
  const auto world = static_cast<uint64_t>(comm_->world_size());
  for (int64_t m = 0; m < accum; ++m) {
    const Batch& b = micro[static_cast<size_t>(m)];
    epoch_ended |= b.last_in_epoch;
    // Each rank draws its own dropout stream; one process (world 1) keeps offset = micro_.
    ctx.rng_offset = micro_++ * world + static_cast<uint64_t>(comm_->rank());
    if (b.size == 0) continue;  // only sharding padding: nothing to add to the gradients
    upload_batch(*be_, b, batch_);
    std::unique_ptr<TelemetryProbe> probe;
    std::unique_ptr<Loss> shadow;
    if (probe_step > 0 && m == 0 && writer_) {  // rank 0's micro-batch stands for the step
      probe = std::make_unique<TelemetryProbe>(*be_, probe_step, scaler_->scale());
      shadow = make_loss(spec_.model.loss, spec_.model.ignore_index);
    }
    train_step_->micro_batch(ctx, batch_.x, batch_.target, norm.grad_scale, probe.get(),
                             shadow.get());
    if (probe)
      for (const TelemetryRow& r : probe->rows()) telemetry_->append_row(telemetry_csv_line(r));
    samples += b.size;
  }
  return norm;
}

void TrainerImpl::run_eval() {
  if ((!val_split_ && !val_tokens_) || last_eval_step_ == step_) return;
  last_eval_ = val_tokens_ ? evaluate(*be_, *model_, *loss_, val_tokens_, spec_.data, comm_.get())
                           : evaluate(*be_, *model_, *loss_, val_split_, spec_.data, comm_.get());
  clear_bar();
  last_eval_step_ = step_;
  best_val_loss_ = std::min(best_val_loss_, last_eval_.loss);
  if (writer_) eval_log_->append(step_, last_eval_.loss, last_eval_.accuracy);
  if (last_eval_.per_token)  // bits/token only here: eval.csv's columns are fixed (DESIGN.md)
    spdlog::info("eval step {}: val_loss {:.5f} nats/token ({:.4f} bits/token) val_accuracy {:.4f}",
                 step_, last_eval_.loss, last_eval_.loss / std::log(2.0), last_eval_.accuracy);
  else if (last_eval_.accuracy >= 0)
    spdlog::info("eval step {}: val_loss {:.5f} val_accuracy {:.4f}", step_, last_eval_.loss, last_eval_.accuracy);
  else
    spdlog::info("eval step {}: val_loss {:.6g}", step_, last_eval_.loss);
}

void TrainerImpl::write_checkpoint() {
  // Every rank passes here at the same steps (dist.zero: 1 gathers the state collectively).
  if (last_ckpt_step_ == step_) return;
  std::vector<CheckpointTensor> optimizer =
      zero_ || writer_ ? optimizer_state() : std::vector<CheckpointTensor>{};
  last_ckpt_step_ = step_;
  if (!writer_) return;
  const fs::path p = save_checkpoint(run_dir_, snapshot(std::move(optimizer)), spec_.train.keep_checkpoints);
  clear_bar();
  spdlog::info("checkpoint: {}", p.string());
}

void TrainerImpl::write_summary(double wall_s) {
  if (!writer_) return;
  Summary s;
  s.final_train_loss = last_loss_;
  s.best_val_loss = std::isfinite(best_val_loss_) ? best_val_loss_ : NAN;
  s.final_val_accuracy = last_eval_.accuracy >= 0 ? last_eval_.accuracy : NAN;
  s.steps = step_;
  s.skipped_steps = scaler_->total_skips();
  s.samples_per_s = train_seconds_ > 0 ? static_cast<double>(samples_seen_) / train_seconds_ : 0.0;
  s.peak_memory_bytes = static_cast<int64_t>(be_->peak_memory_bytes());
  s.wall_s = wall_s;
  s.policy = dtype_name(policy_.compute);
  s.device = std::string(device_name(be_->device()));
  s.world_size = comm_->world_size();
  s.comm_s_per_step = grad_reduce_ && step_ > first_step_
                          ? grad_reduce_->comm_seconds() / static_cast<double>(step_ - first_step_)
                          : 0.0;
  s.optimizer_state_bytes = optim_->state_bytes();
  if (graphs_) {
    const StepGraphs::Counts& c = graphs_->counts();
    s.graph_captures = c.captured;
    s.graph_replays = c.replayed;
    s.graph_fallbacks = c.fell_back;
  }
  write_summary_json(run_dir_ / "summary.json", s);
}

TrainerImpl::StepResult TrainerImpl::train_one_step() {
  const auto s0 = Clock::now();
  StepResult r;
  const int64_t every = spec_.precision.telemetry_every;
  const bool telemetry_step = every > 0 && (step_ + 1) % every == 0;
  const StepNormalisation norm =
      accumulate(r.samples, r.epoch_ended, telemetry_step ? step_ + 1 : 0);
  r.outcome = train_step_->finish(norm);
  // The step's loss sum stayed on the device; finish read it back with the gradient check.
  const double loss_sum = r.outcome.loss_sum;
  // The logged loss and sample count are the job's (fp64 sums in rank order), and a stop
  // request on any rank stops every rank after this same step.
  const std::vector<double> sums =
      comm_->sum_host({loss_sum, static_cast<double>(r.samples), stop_requested() ? 1.0 : 0.0});
  r.loss_mean = norm.mean_loss(sums[0]);
  r.samples = static_cast<int64_t>(sums[1]);
  r.stop = sums[2] > 0;
  if (norm.empty() && writer_) {
    clear_bar();
    spdlog::warn("step {}: every label of its {} samples is model.ignore_index ({}); no update",
                 step_ + 1, r.samples, spec_.model.ignore_index);
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - s0).count();
  ++step_;
  return r;
}

// Accounting, metrics row and log line, progress bar, and the non-finite loss check of a step.
void TrainerImpl::record_step(const StepResult& r, ProgressBar& bar) {
  const StepOutcome& o = r.outcome;
  train_seconds_ += r.seconds;
  samples_seen_ += r.samples;
  window_.seconds += r.seconds;
  window_.samples += r.samples;
  window_.loss += r.loss_mean;
  ++window_.steps;
  last_loss_ = r.loss_mean;
  const double sps = window_.seconds > 0 ? static_cast<double>(window_.samples) / window_.seconds : 0.0;
  if (step_ % spec_.train.log_every == 0 || step_ == total_steps_ || o.skipped) {
    const double row_loss = window_.loss / static_cast<double>(window_.steps);
    MetricsRow row{step_, loader_->cursor().epoch, row_loss, o.lr, o.loss_scale,
                   o.grad_norm, o.skipped, sps, elapsed_s()};
    if (writer_) metrics_->append(row);
    if (o.skipped) clear_bar();
    if ((!bar.enabled() || o.skipped) && opt_.verbosity >= 0)
      spdlog::info("step {}/{} loss {:.5f} lr {:.3g} scale {:g} grad_norm {:.4g}{} {:.0f} samples/s",
                   step_, total_steps_, row_loss, o.lr, o.loss_scale, o.grad_norm,
                   o.skipped ? " SKIPPED (non-finite gradients)" : "", sps);
    window_ = Window{};
  }
  bar.update(step_, r.loss_mean, o.lr, o.new_loss_scale, sps);
  if (!std::isfinite(r.loss_mean) && !o.skipped)
    throw NumericalError("step " + std::to_string(step_) + ": the training loss is " +
                         std::to_string(r.loss_mean) + " although the gradients were finite; "
                         "lower optimizer.lr or use precision.policy: fp32 to find the cause");
}

void TrainerImpl::open_run_logs() {
  if (!writer_) return;
  write_file_atomic(run_dir_ / "config.yaml", dump_spec(spec_));
  metrics_ = std::make_unique<MetricsLog>(run_dir_ / "metrics.csv", step_);
  eval_log_ = std::make_unique<EvalLog>(run_dir_ / "eval.csv", step_);
  if (spec_.precision.telemetry_every > 0)
    telemetry_ = std::make_unique<CsvLog>(run_dir_ / "telemetry.csv", telemetry_csv_header(), step_);
}

void TrainerImpl::require_some_update(int64_t first_step, int64_t applied_before) const {
  if (step_ > first_step && optim_->applied_steps() == applied_before)
    throw NumericalError(
        "all " + std::to_string(step_ - first_step) + " optimizer steps of this run were skipped "
        "(inf/NaN gradients), so the model was never updated and this is not a result. Likely "
        "causes: extreme input or target values (set data.input_scale for raw pixels; "
        "data.check_finite: true scans the data for NaN/Inf before training), a learning rate "
        "that diverges at once (lower optimizer.lr), or gradients that overflow the compute "
        "dtype (precision.policy: bf16 or fp32). metrics.csv has the loss and grad_norm of each "
        "step");
}

void TrainerImpl::print_result() const {
  if (!writer_ || !opt_.print_result) return;
  // The result line is printed even with -q.
  std::printf("done: %lld steps (%lld skipped), final loss %.5f%s; results in %s\n",
              static_cast<long long>(step_), static_cast<long long>(scaler_->total_skips()), last_loss_,
              last_eval_.accuracy >= 0 ? (", val accuracy " + std::to_string(last_eval_.accuracy).substr(0, 6)).c_str() : "",
              run_dir_.string().c_str());
  std::fflush(stdout);
}

int TrainerImpl::run() {
  t0_ = Clock::now();
  SignalGuard signals(SignalPhase::StartUp);  // a signal before the first step quits at once
  build();  // creates the communicator: from here on rank 0 alone writes the run directory
  if (writer_) {
    fs::create_directories(run_dir_);
    remove_temp_files(run_dir_);  // left by a writer that was killed mid-write
  }
  if (!maybe_resume()) init_from();
  broadcast_params();
  if (step_ >= total_steps_) {  // a finished run: leave every file of the run directory as it is
    if (writer_) std::printf("%s\n", finished_run_message(step_, total_steps_, spec_).c_str());
    std::fflush(stdout);
    return 0;
  }
  const int64_t first_step = step_;
  first_step_ = step_;
  log_state_bytes();
  const int64_t applied_before = optim_->applied_steps();
  open_run_logs();
  // Not in a multi-process job: mpirun hands every rank a pseudo-terminal even when its own
  // output goes to a file, and rank 0 logs plain lines instead.
  ProgressBar bar(total_steps_, comm_->world_size() == 1 && opt_.verbosity >= 0 && stdout_is_tty());
  bar_ = &bar;
  while (step_ < total_steps_) {
    const StepResult r = train_one_step();
    signals.training_started();  // from now on a signal stops after the step, with a checkpoint
    record_step(r, bar);
    if ((spec_.train.eval_every > 0 && step_ % spec_.train.eval_every == 0) ||
        (spec_.train.eval_every == 0 && r.epoch_ended))
      run_eval();
    if (spec_.train.checkpoint_every > 0 && step_ % spec_.train.checkpoint_every == 0) write_checkpoint();
    if (r.stop) {  // agreed by every rank (train_one_step)
      bar.finish();
      // A rank that got no signal itself stops for its peer's: as after SIGTERM.
      const int code = stop_signal() != 0 ? stop_exit_code() : 128 + SIGTERM;
      if (writer_)
        spdlog::warn("stop requested by signal {}: saving a checkpoint at step {}",
                     stop_signal() != 0 ? stop_signal() : SIGTERM, step_);
      write_checkpoint();
      write_summary(elapsed_s());
      comm_->barrier();  // no rank ends the job (a non-zero exit aborts it) before rank 0 wrote
      return code;
    }
  }
  bar.finish();
  run_eval();
  write_checkpoint();
  write_summary(elapsed_s());
  comm_->barrier();
  require_some_update(first_step, applied_before);
  print_result();
  return 0;
}

Trainer::Trainer(const RunSpec& spec, const TrainerOptions& opt)
    : impl_(std::make_unique<TrainerImpl>(spec, opt)) {}
Trainer::~Trainer() = default;
int Trainer::run() { return impl_->run(); }

}  // namespace mp
