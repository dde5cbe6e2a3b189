// train_resume.cpp: what a resume may change (issue 8 part 5) and the run-file fixes around it.
// - the resume_keys table covers every spec key, and REFERENCE.md shows exactly that table;
// - check_resume refuses every state-bearing change (one of each kind), naming key and both
//   values, and lets free keys change;
// - damaged step counters are a DataError (exit 3), and --resume auto falls back past them;
// - a metrics.csv row's loss is the mean over the steps since the previous row;
// - resuming a finished run changes no file; raising train.steps continues it;
// - another world size (issue 11): data.batch_size may change keeping batch x world, the data
//   cursor maps to the new global batch where each sample is still seen once, a larger
//   state_layout_version is refused.
#include <doctest/doctest.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "checkpoint/checkpoint_io.h"
#include "checkpoint/checkpoint_store.h"
#include "checkpoint/resume_check.h"
#include "checkpoint/resume_keys.h"
#include "config/spec_dump.h"
#include "config/spec_keys.h"
#include "config/spec_loader.h"
#include "core/error.h"
#include "data/synthetic_data.h"
#include "train/trainer.h"
#include "unit/checkpoint_fixtures.h"

#ifndef MPTRAIN_REFERENCE_MD
#error "MPTRAIN_REFERENCE_MD (the path of configs/REFERENCE.md) must be defined"
#endif

using namespace mp;
using namespace mp::testing;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

const fs::path& data_file() {
  static TempDir dir("resume_data");
  static const fs::path f = [] {
    fs::path p = dir.path / "synth.h5";
    write_synthetic_classification(p.string(), 512, 128, 12, 4, 5);
    return p;
  }();
  return f;
}

std::string spec_text() {
  return "name: resume\nseed: 1\ndevice: cpu\nthreads: 1\n"
         "data: {file: " + data_file().string() + ", batch_size: 32}\n"
         "model:\n  layers:\n    - linear: {out: 16}\n    - gelu\n    - dropout: {p: 0.1}\n"
         "    - linear: {out: 4}\n"
         "optimizer: {type: sgd, lr: 0.05, momentum: 0.9}\n"
         "schedule: {type: cosine, warmup_steps: 2}\n"
         "train: {steps: 20, log_every: 5, eval_every: 10, checkpoint_every: 10}\n";
}

RunSpec spec_with(const std::vector<std::string>& sets) {
  return load_spec_from_string(spec_text(), "test.yaml", sets);
}

int train(const fs::path& dir, const std::vector<std::string>& sets, const std::string& resume = "") {
  TrainerOptions t;
  t.run_dir = dir.string();
  t.resume = resume;
  t.verbosity = -1;
  Trainer tr(spec_with(sets), t);
  return tr.run();
}

// metrics.csv -> the loss column by step.
std::map<int64_t, double> losses(const fs::path& dir) {
  std::istringstream in(read_text(dir / "metrics.csv"));
  std::string line;
  std::getline(in, line);  // header
  std::map<int64_t, double> out;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
    out[std::stoll(cells[0])] = std::stod(cells[2]);
  }
  return out;
}

// A checkpoint whose stored spec is `stored` (and whose tensors fit any model signature given).
CheckpointData checkpoint_of(const RunSpec& stored) {
  CheckpointData ck = make_checkpoint(20);
  ck.config_text = dump_spec(stored);
  ck.policy = stored.precision.policy;
  return ck;
}

const char* const kPath = "runs/x/checkpoints/step_00000020.h5";

// The ConfigError message check_resume throws for resuming `stored` with `now`; "" when allowed.
// `ck_world`/`world`: the ranks of the run that wrote the checkpoint / of this run.
std::string refusal(const std::vector<std::string>& stored, const std::vector<std::string>& now,
                    int64_t ck_world = 1, int64_t world = 1) {
  CheckpointData ck = checkpoint_of(spec_with(stored));
  if (ck_world != 1) ck.extra_ints["world_size"] = ck_world;
  try {
    const RunSpec spec = spec_with(now);
    check_resume(ck, kPath, spec, resolve_dtype_policy(spec.precision), ck.model_signature, world);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

struct Quiet {
  Quiet() { spdlog::set_level(spdlog::level::warn); }
} quiet;

}  // namespace

TEST_CASE("the resume table decides every spec key, and REFERENCE.md shows exactly that table") {
  for (const auto& k : spec_keys())
    CHECK_MESSAGE(find_resume_key(k.path) != nullptr,
                  "spec key " << k.path << " has no entry in resume_keys() (lib/checkpoint/resume_keys.cpp)");
  for (const ResumeKey& r : resume_keys()) {  // no entry for a key that does not exist
    const std::string key(r.key);
    const bool names_keys = find_spec_key(key) != nullptr || is_spec_section(key);
    CHECK_MESSAGE(names_keys, "resume_keys() entry " << key << " names no spec key or section");
  }
  const std::string ref = read_text(MPTRAIN_REFERENCE_MD);
  const std::string md = resume_keys_markdown();
  CHECK_MESSAGE(contains(ref, md), "configs/REFERENCE.md must hold this block verbatim (in its prose "
                                   "part, before the generated tables):\n" << md);
}

TEST_CASE("check_resume refuses a state-bearing change, naming the key and both values") {
  const std::string m = refusal({}, {"seed=2"});
  CHECK(contains(m, std::string("resume: checkpoint ") + kPath +
                        " was written with seed: 1, the spec says seed: 2; seed cannot change on "
                        "resume (it fixes the shuffling order"));
  CHECK(contains(m, "Start a new run (a different output.dir, or --out DIR) or restore the value;"));

  SUBCASE("one key of each state-bearing kind") {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"data.batch_size=64", "data.batch_size: 32, the spec says data.batch_size: 64"},
        {"data.shuffle=false", "data.shuffle: true, the spec says data.shuffle: false"},
        {"data.train.x=/other/x", "data.train.x: /train/x, the spec says data.train.x: /other/x"},
        {"model.layers.1=relu", "model.layers.1: gelu: {approximate: tanh, name: \"\", precision: auto}, the spec says model.layers.1: relu: {name: \"\", precision: auto}"},
        {"model.loss=mse", "model.loss: cross_entropy, the spec says model.loss: mse"},
        {"precision.policy=bf16", "precision.policy: fp32, the spec says precision.policy: bf16"},
        {"precision.master_weights=none", "precision.master_weights: fp32, the spec says precision.master_weights: none"},
        {"optimizer.type=adamw", "optimizer.type: sgd, the spec says optimizer.type: adamw"},
        {"optimizer.momentum=0", "optimizer.momentum: 0.9, the spec says optimizer.momentum: 0"},
        {"train.accum_steps=2", "train.accum_steps: 1, the spec says train.accum_steps: 2"},
    };
    for (const auto& [set, fragment] : cases) {
      CAPTURE(set);
      const std::string msg = refusal({}, {set});
      CHECK_MESSAGE(contains(msg, "was written with " + fragment), msg);
    }
  }
  SUBCASE("every differing key is listed, with the parameter shapes a model change alters") {
    const std::string msg = refusal({}, {"seed=5", "data.batch_size=16", "optimizer.type=adamw",
                                         "model.layers.0.linear.out=8", "optimizer.lr=0.1"});
    INFO(msg);
    CHECK(contains(msg, "differs from the spec in 4 keys that cannot change on resume:"));
    CHECK(contains(msg, "\n  written with seed: 1, the spec says seed: 5;"));
    CHECK(contains(msg, "\n  written with data.batch_size: 32, the spec says data.batch_size: 16;"));
    CHECK(contains(msg, "\n  written with optimizer.type: sgd, the spec says optimizer.type: adamw;"));
    CHECK(contains(msg, "\n  written with model.layers.0: linear: {out: 16,"));
    CHECK(!contains(msg, "optimizer.lr"));  // free
    CHECK(contains(msg, "restore the values"));
  }
  SUBCASE("the precision policy cannot change even with fp32 master weights") {
    CHECK(contains(refusal({"precision.policy=fp16"}, {"precision.policy=bf16"}),
                   "precision.policy: fp16, the spec says precision.policy: bf16"));
  }
}

TEST_CASE("check_resume lets free keys change") {
  // One of each free kind: length, logging, hyperparameters, schedule, where and how it runs.
  for (const char* set : {"train.steps=500", "train.epochs=3", "train.log_every=1", "train.eval_every=3",
                          "train.checkpoint_every=7", "train.keep_checkpoints=1", "optimizer.lr=0.2",
                          "optimizer.weight_decay=0.01", "optimizer.momentum=0.5",
                          "optimizer.grad_clip_norm=1", "schedule.type=linear",
                          "schedule.warmup_steps=0", "schedule.min_lr_ratio=0.1",
                          "output.dir=elsewhere", "name=renamed", "threads=2", "device=auto",
                          "data.val.x=\"\"", "data.prefetch=4", "data.in_memory=true",
                          "precision.loss_scale.growth_interval=10", "precision.telemetry_every=5",
                          "debug.inject_nonfinite_grad_steps=[3]"}) {
    CAPTURE(set);
    CHECK(refusal({}, {set}) == "");
  }
}

TEST_CASE("a checkpoint whose stored spec does not load is a DataError naming the file") {
  CheckpointData ck = checkpoint_of(spec_with({}));
  ck.config_text = "seed: [not, a, number]\n";
  CHECK_THROWS_WITH_AS(check_resume(ck, kPath, spec_with({}), resolve_dtype_policy(spec_with({}).precision),
                                    ck.model_signature),
                       doctest::Contains("runs/x/checkpoints/step_00000020.h5: the run spec stored in it"),
                       DataError);
}

TEST_CASE("damaged step counters are a DataError naming the file and the fields; --resume auto skips them") {
  TempDir dir("resume_counters");
  CheckpointData good = make_checkpoint(10), bad = make_checkpoint(20);
  std::string fragment;
  SUBCASE("step != applied_steps + skipped") {
    bad.applied_steps += 1;
    bad.optimizer_step += 1;
    fragment = "step 20 should be applied_steps 18 + /scaler/total_skips 3 = 21";
  }
  SUBCASE("optimizer step != applied_steps") {
    bad.optimizer_step -= 2;
    fragment = "the optimizer's step (attribute `step` of /optimizer) is 15 but applied_steps is 17";
  }
  save_checkpoint(dir.path, good, 5);
  const fs::path bad_path = save_checkpoint(dir.path, bad, 5);
  try {
    read_checkpoint(bad_path);
    FAIL("expected a DataError");
  } catch (const DataError& e) {
    CHECK(contains(e.what(), "cannot load checkpoint " + bad_path.string() + ": "));
    CHECK(contains(e.what(), fragment));
  }
  std::vector<std::string> warnings;
  const auto found = find_resume_checkpoint(dir.path, warnings);
  REQUIRE(found.has_value());
  CHECK(found->data.step == 10);
  REQUIRE(warnings.size() == 1);
  CHECK(contains(warnings[0], fragment));
}

TEST_CASE("a metrics.csv row's loss is the mean of the per-step losses since the previous row") {
  TempDir dir("resume_metrics");
  for (const char* policy : {"fp32", "fp16"}) {
    CAPTURE(policy);
    // fp16 with an injected overflow at step 3: that skipped step writes a row of its own, which
    // averages steps 1..3 (its loss included); the row at step 5 then averages steps 4..5.
    const std::vector<std::string> common = {std::string("precision.policy=") + policy,
                                             "debug.inject_nonfinite_grad_steps=[3]"};
    auto every5 = common, every1 = common;
    every5.push_back("train.log_every=5");
    every1.push_back("train.log_every=1");
    const fs::path a = dir.path / (std::string(policy) + "_5"), b = dir.path / (std::string(policy) + "_1");
    REQUIRE(train(a, every5) == 0);
    REQUIRE(train(b, every1) == 0);
    const auto rows = losses(a), steps = losses(b);
    REQUIRE(steps.size() == 20);
    std::vector<int64_t> want_rows = {3, 5, 10, 15, 20};
    std::vector<int64_t> got_rows;
    for (const auto& [s, l] : rows) got_rows.push_back(s);
    CHECK(got_rows == want_rows);
    int64_t prev = 0;
    for (const auto& [s, l] : rows) {
      CAPTURE(s);
      double sum = 0;
      for (int64_t i = prev + 1; i <= s; ++i) sum += steps.at(i);
      CHECK(l == doctest::Approx(sum / static_cast<double>(s - prev)).epsilon(1e-12));
      if (s - prev > 1) CHECK(l != doctest::Approx(steps.at(s)).epsilon(1e-9));  // not the last step's
      prev = s;
    }
  }
}

TEST_CASE("resuming a finished run changes nothing; raising train.steps continues it") {
  TempDir dir("resume_finished");
  const fs::path run = dir.path / "run";
  REQUIRE(train(run, {}) == 0);
  const std::vector<std::string> files = {"metrics.csv", "eval.csv", "summary.json", "config.yaml",
                                          "checkpoints/latest", "checkpoints/step_00000020.h5"};
  std::map<std::string, std::string> before;
  for (const auto& f : files) before[f] = read_text(run / f);
  const auto mtime = fs::last_write_time(run / "summary.json");

  CHECK(train(run, {}, "auto") == 0);
  CHECK(train(run, {"train.log_every=1"}, (run / "checkpoints/step_00000020.h5").string()) == 0);
  for (const auto& f : files) {
    CAPTURE(f);
    CHECK(read_text(run / f) == before[f]);
  }
  CHECK(fs::last_write_time(run / "summary.json") == mtime);
  CHECK(!fs::exists(run / "checkpoints/step_00000021.h5"));

  // train.steps is free: raising it continues from step 20.
  REQUIRE(train(run, {"train.steps=25"}, "auto") == 0);
  std::vector<std::string> warnings;
  const auto last = find_resume_checkpoint(run, warnings);
  REQUIRE(last.has_value());
  CHECK(last->data.step == 25);
  const auto rows = losses(run);
  CHECK(rows.rbegin()->first == 25);
  CHECK(rows.count(20) == 1);
  CHECK(contains(read_text(run / "summary.json"), "\"steps\": 25"));
}

TEST_CASE("finished_run_message names the step, the limit and the key to raise") {
  CHECK(finished_run_message(20, 20, spec_with({})) ==
        "run already finished at step 20 (train.steps: 20); nothing to do - raise train.steps to continue");
  CHECK(contains(finished_run_message(16, 16, spec_with({"train.steps=0", "train.epochs=1"})),
                 "(train.epochs: 1 = 16 steps); nothing to do - raise train.epochs"));
}

TEST_CASE("another world size: data.batch_size may change only keeping batch x world") {
  CHECK(refusal({"data.batch_size=64"}, {"data.batch_size=128"}, 2, 1).empty());
  CHECK(refusal({"data.batch_size=128"}, {"data.batch_size=64"}, 1, 2).empty());
  CHECK(refusal({}, {}, 2, 1).empty());  // same batch size: the cursor decides (below)
  const std::string m = refusal({"data.batch_size=64"}, {"data.batch_size=96"}, 2, 1);
  CHECK(contains(m, "data.batch_size: 64, the spec says data.batch_size: 96"));
  CHECK(contains(m, "another number of ranks may change it so that the product stays the same"));
  // the same world size: any change is refused, as before
  CHECK(contains(refusal({"data.batch_size=64"}, {"data.batch_size=128"}, 2, 2),
                 "data.batch_size cannot change on resume"));
}

TEST_CASE("resume_cursor: the samples already consumed map onto the new global batch") {
  CheckpointData ck = checkpoint_of(spec_with({"data.batch_size=64"}));
  ck.epoch = 3;
  ck.batch_in_epoch = 10;
  ck.extra_ints["world_size"] = 2;  // 10 x 64 x 2 = 1280 samples into epoch 3
  const auto at = [&](int64_t batch, int64_t world) {
    return resume_cursor(ck, kPath, spec_with({"data.batch_size=" + std::to_string(batch)}), world);
  };
  CHECK(at(64, 2) == LoaderCursor{3, 10});   // unchanged
  CHECK(at(128, 1) == LoaderCursor{3, 10});  // same global batch
  CHECK(at(64, 1) == LoaderCursor{3, 20});
  CHECK(at(32, 8) == LoaderCursor{3, 5});
  CHECK(at(256, 5) == LoaderCursor{3, 1});
  try {
    at(64, 3);
    FAIL("3 x 64 = 192 does not divide 1280: refused");
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    CHECK(contains(m, "stopped after batch 10 of epoch 3, i.e. 1280 samples into it (2 ranks x "
                      "data.batch_size 64 = 128 per batch); this run takes 192 per batch (3 ranks x 64)"));
    CHECK(contains(m, "Resume with 2 ranks"));
  }
  ck.batch_in_epoch = 0;  // an epoch boundary: every world size
  CHECK(at(64, 3) == LoaderCursor{3, 0});
  ck.extra_ints.erase("world_size");  // older checkpoints: one process
  ck.batch_in_epoch = 4;
  CHECK(at(32, 2) == LoaderCursor{3, 4});
  CHECK(at(64, 1) == LoaderCursor{3, 4});
  CHECK(at(128, 1) == LoaderCursor{3, 2});
}

TEST_CASE("state_layout_version: 1 (absent) and 2 resume, a larger one is refused") {
  const RunSpec spec = spec_with({});
  CheckpointData ck = checkpoint_of(spec);
  const auto check = [&] {
    check_resume(ck, kPath, spec, resolve_dtype_policy(spec.precision), ck.model_signature);
  };
  CHECK_NOTHROW(check());
  ck.extra_ints["state_layout_version"] = kStateLayoutVersion;
  CHECK_NOTHROW(check());
  ck.extra_ints["state_layout_version"] = kStateLayoutVersion + 1;
  CHECK_THROWS_WITH_AS(check(), doctest::Contains("state_layout_version attribute is 3, this mptrain "
                                                  "reads layouts 1..2"), DataError);
}
