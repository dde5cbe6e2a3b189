// cli.cpp: the CLI11 definition of every flag and subcommand, and what each invocation runs.
#include "app/cli.h"

#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "app/commands.h"
#include "config/output_dir.h"
#include "config/spec_dump.h"
#include "config/spec_loader.h"
#include "config/spec_reference.h"
#include "core/error.h"
#include "core/version.h"


namespace mp {

namespace {

const char* const kFooter = R"(Examples:
  mptrain --config configs/mnist_mlp.yaml
      train with the quickstart spec
  mptrain --config configs/mnist_mlp.yaml --set precision.policy=bf16 --set train.accum_steps=4
      the same in bf16 with 4 micro-batches per step
  mptrain --config run.yaml --print-config
      print the resolved spec (defaults filled, overrides applied) and exit
  mptrain --config run.yaml --dry-run --device cpu
      check spec, data and model, run no training
  mptrain --config run.yaml --resume auto --out runs/{name}_{precision.policy}
      continue from the newest checkpoint in that run directory
  mptrain sweep --config run.yaml --grid precision.policy=fp32,fp16,bf16
  mptrain eval --config run.yaml --checkpoint runs/mnist_mlp/checkpoints/step_00000500.h5
  mptrain export --checkpoint runs/mnist_mlp/checkpoints/step_00000500.h5 --dtype bf16 --out m.h5
  mptrain eval --config run.yaml --checkpoint m.h5 --set precision.policy=bf16 --compare fp32
  mptrain inspect datasets/mnist/mnist.h5
  mptrain tune-precision --config run.yaml --write run_tuned.yaml
  mptrain sample --config lm.yaml --checkpoint m.h5 --prompt "In the beginning" --tokens 300 --seed 1

Every spec key with its default: configs/REFERENCE.md.
Exit codes: 0 ok, 1 internal error, 2 usage or config error, 3 data error,
4 numerical failure, 130/143 stopped by SIGINT/SIGTERM after a checkpoint.)";

struct RunArgs {
  std::string config;
  std::vector<std::string> sets;
  std::string resume;
  std::string out;
  std::string device;
  int threads = -1;  // --threads N: the same as --set threads=N
  bool print_config = false;
  bool dry_run = false;
  bool print_reference = false;
  int quiet = 0, verbose = 0;
  std::vector<const CLI::Option*> train_only;  // options no subcommand takes
};

struct SweepArgs {
  CLI::App* cmd = nullptr;
  std::string config, out;
  std::vector<std::string> grid, sets;
};

struct EvalArgs {
  CLI::App* cmd = nullptr;
  std::string config, checkpoint, device, compare;
  std::vector<std::string> sets;
};

struct ExportArgs {
  CLI::App* cmd = nullptr;
  std::string checkpoint, dtype, out;
};

struct TuneArgs {
  CLI::App* cmd = nullptr;
  std::string config, device, candidates, write;
  std::vector<std::string> sets;
  int64_t steps = 50;
};

struct SampleArgs {
  CLI::App* cmd = nullptr;
  std::string config, device;
  std::vector<std::string> sets;
  SampleOptions opt;
};

struct InspectArgs {
  CLI::App* cmd = nullptr;
  std::string file;
};

[[noreturn]] void usage_error(const std::string& msg) {
  throw ConfigError(msg + "\nrun mptrain --help");
}

void add_set_option(CLI::App& app, std::vector<std::string>& sets) {
  app.add_option("--set", sets,
                 "override one spec key; VALUE is parsed as YAML; repeatable, applied in order "
                 "after the file (e.g. --set optimizer.lr=3e-4 --set model.layers.1.linear.out=256)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
}

CLI::Option* add_device_option(CLI::App& app, std::string& device) {
  return app
      .add_option("--device", device,
                  "where to run, overriding the spec's device (e.g. --device cpu)")
      ->type_name("DEVICE")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
}

// The spec with the command line's --device and --out written into it: the one place they are
// applied (everything after reads spec.device and spec.output.dir).
RunSpec load_for_run(const std::string& config, const std::vector<std::string>& sets,
                     const std::string& device, const std::string& out) {
  RunSpec spec = load_spec(config, sets);
  if (!device.empty()) spec.device = device;
  if (!out.empty()) {
    spec.output.dir = out;
    const Expanded e = expand_placeholders(out, spec);
    if (e.error) throw ConfigError("--out " + out + ": " + *e.error);
  }
  return spec;
}

// The top-level (training) options, and the global -q/-v.
void add_train_options(CLI::App& app, RunArgs& run) {
  auto& only = run.train_only;
  only.push_back(
      app.add_option("--config", run.config, "run spec to train with (e.g. --config configs/mnist_mlp.yaml)")
          ->type_name("FILE"));
  add_set_option(app, run.sets);
  only.push_back(app.add_option("--resume", run.resume,
                                "continue from a checkpoint file, or auto = the newest in the "
                                "run directory if any (e.g. --resume auto)")
                     ->type_name("PATH|auto"));
  only.push_back(app.add_option("--out", run.out,
                                "run directory, overriding output.dir; placeholders allowed "
                                "(e.g. --out runs/{name}_{precision.policy})")
                     ->type_name("DIR"));
  only.push_back(app.add_flag("--print-config", run.print_config,
                              "print the resolved spec as YAML and exit (the data file is not "
                              "needed; e.g. --config run.yaml --print-config)"));
  only.push_back(app.add_flag("--dry-run", run.dry_run,
                              "load the spec, open the data, build the model and report, without "
                              "training (e.g. --config run.yaml --dry-run)"));
  only.push_back(add_device_option(app, run.device));
  only.push_back(app.add_option("--threads", run.threads,
                                "CPU threads; 0 = OMP_NUM_THREADS or all cores; the same as "
                                "--set threads=N (e.g. --threads 2)")
                     ->type_name("N")
                     ->check(CLI::Range(0, 4096)));
  // -q/-v are global: every subcommand falls through to them (mptrain sweep ... -q).
  auto* q_opt = app.add_flag("-q,--quiet", run.quiet, "print only errors and the final summary (any command)");
  auto* v_opt = app.add_flag("-v,--verbose", run.verbose, "print more detail (resolved spec, timings; any command)");
  q_opt->excludes(v_opt);
  app.add_flag("--print-reference", run.print_reference,
               "print the generated key and layer tables of configs/REFERENCE.md")
      ->group("");  // hidden: used by scripts/update_reference.sh
}

void add_sweep_command(CLI::App& app, SweepArgs& a) {
  a.cmd = app.add_subcommand(
      "sweep", "run the spec once per point of a grid of overrides, then write a comparison report");
  a.cmd->add_option("--config", a.config, "base run spec (e.g. --config configs/mnist_mlp.yaml)")
      ->type_name("FILE")
      ->required();
  a.cmd->add_option("--grid", a.grid,
                    "one axis of the grid: a key and its values, comma-separated; repeatable, the "
                    "grid is the product, first axis slowest; a value cannot contain a comma "
                    "(e.g. --grid precision.policy=fp32,fp16,bf16)")
      ->type_name("KEY=V1,V2,...")
      ->allow_extra_args(false);
  add_set_option(*a.cmd, a.sets);
  a.cmd->add_option("--out", a.out, "sweep directory (e.g. --out runs/precision_sweep)")
      ->type_name("DIR");
  a.cmd->footer(
      "Example:\n  mptrain sweep --config configs/mnist_mlp.yaml --grid precision.policy=fp32,bf16 "
      "--grid train.accum_steps=1,4");
}

void add_eval_command(CLI::App& app, EvalArgs& a) {
  a.cmd = app.add_subcommand(
      "eval", "evaluate a checkpoint or export file on the spec's validation split, in the spec's "
              "precision.policy (whatever policy trained it)");
  a.cmd->add_option("--config", a.config, "run spec (e.g. --config configs/mnist_mlp.yaml)")
      ->type_name("FILE")
      ->required();
  a.cmd->add_option("--checkpoint", a.checkpoint,
                    "checkpoint or export file (e.g. --checkpoint "
                    "runs/mnist_mlp/checkpoints/step_00000500.h5)")
      ->type_name("PATH")
      ->required();
  add_set_option(*a.cmd, a.sets);
  add_device_option(*a.cmd, a.device);
  a.cmd->add_option("--compare", a.compare,
                    "also evaluate the same weights in fp32 and print the loss and accuracy "
                    "differences (e.g. --compare fp32)")
      ->type_name("fp32")
      ->check(CLI::IsMember({"fp32"}));
  a.cmd->footer(
      "Examples:\n  mptrain eval --config configs/mnist_mlp.yaml --checkpoint "
      "runs/mnist_mlp/checkpoints/step_00000500.h5\n  mptrain eval --config "
      "configs/mnist_mlp.yaml --checkpoint model_bf16.h5 --set precision.policy=bf16 --compare fp32");
}

void add_export_command(CLI::App& app, ExportArgs& a) {
  a.cmd = app.add_subcommand(
      "export", "write a checkpoint's parameters (no optimizer state) in fp32, bf16 or fp16 to an "
                "HDF5 file that mptrain eval and h5py read");
  a.cmd->add_option("--checkpoint", a.checkpoint,
                    "checkpoint to export (e.g. --checkpoint runs/mnist_mlp/checkpoints/step_00000500.h5)")
      ->type_name("PATH")
      ->required();
  a.cmd->add_option("--dtype", a.dtype,
                    "stored dtype, each value rounded to nearest even from the fp32 masters; fp16 "
                    "refuses values beyond its range (exit 4) (e.g. --dtype bf16)")
      ->type_name("fp32|bf16|fp16")
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}))
      ->required();
  a.cmd->add_option("--out", a.out, "the file to write, atomically (e.g. --out model_bf16.h5)")
      ->type_name("FILE.h5")
      ->required();
  a.cmd->footer(
      "Example:\n  mptrain export --checkpoint runs/mnist_mlp/checkpoints/step_00000500.h5 "
      "--dtype bf16 --out mnist_bf16.h5");
}

void add_inspect_command(CLI::App& app, InspectArgs& a) {
  a.cmd = app.add_subcommand(
      "inspect",
      "list the datasets of an HDF5 file (data, checkpoint or export): names, shapes, dtypes");
  a.cmd->add_option("file", a.file, "HDF5 file (e.g. datasets/mnist/mnist.h5)")
      ->type_name("FILE.h5")
      ->required();
  a.cmd->footer("Example:\n  mptrain inspect datasets/mnist/mnist.h5");
}

void add_tune_command(CLI::App& app, TuneArgs& a) {
  a.cmd = app.add_subcommand(
      "tune-precision",
      "probe the spec for a few steps in fp32 and in each candidate policy, decide which layers "
      "must stay fp32, and print the recommended precision: section");
  a.cmd->add_option("--config", a.config, "run spec to tune (e.g. --config configs/mnist_mlp.yaml)")
      ->type_name("FILE")
      ->required();
  add_set_option(*a.cmd, a.sets);
  add_device_option(*a.cmd, a.device);
  a.cmd->add_option("--steps", a.steps, "training steps of each probe (default 50; e.g. --steps 100)")
      ->type_name("N");
  a.cmd->add_option("--candidates", a.candidates,
                    "policies to try besides the fp32 reference, comma-separated (default bf16,fp16; "
                    "e.g. --candidates fp16)")
      ->type_name("LIST");
  a.cmd->add_option("--write", a.write,
                    "also write the whole spec with the recommended precision: section, atomically "
                    "(e.g. --write tuned.yaml)")
      ->type_name("OUT.yaml");
  a.cmd->footer(
      "Example:\n  mptrain tune-precision --config configs/mnist_mlp.yaml --steps 50 --write "
      "mnist_tuned.yaml");
}

void add_sample_command(CLI::App& app, SampleArgs& a) {
  a.cmd = app.add_subcommand(
      "sample", "print text from a token model (data.format: tokens): the prompt, then --tokens "
                "tokens drawn one at a time from the model's next-token distribution, in the "
                "spec's precision.policy");
  a.cmd->add_option("--config", a.config, "run spec of the model (e.g. --config configs/charlm_gpt.yaml)")
      ->type_name("FILE")
      ->required();
  a.cmd->add_option("--checkpoint", a.opt.checkpoint,
                    "checkpoint or export file (e.g. --checkpoint runs/charlm_gpt/checkpoints/"
                    "step_00002000.h5)")
      ->type_name("PATH")
      ->required();
  a.cmd->add_option("--prompt", a.opt.prompt,
                    "text to continue; every character must be in the data file's /vocab "
                    "(e.g. --prompt \"In the beginning\")")
      ->type_name("TEXT")
      ->required();
  a.cmd->add_option("--tokens", a.opt.tokens, "tokens to generate")
      ->capture_default_str()
      ->type_name("N")
      ->check(CLI::NonNegativeNumber);
  a.cmd->add_option("--temperature", a.opt.temperature,
                    "divides the logits before the softmax; 0 = greedy (always the likeliest token)")
      ->capture_default_str()
      ->type_name("T")
      ->check(CLI::NonNegativeNumber);
  a.cmd->add_option("--top-k", a.opt.top_k, "draw from the K likeliest tokens only; 0 = all, 1 = greedy")
      ->capture_default_str()
      ->type_name("K")
      ->check(CLI::NonNegativeNumber);
  a.cmd->add_option("--seed", a.opt.seed, "seed of the draws: same seed, same text")
      ->capture_default_str()
      ->type_name("S");
  add_set_option(*a.cmd, a.sets);
  add_device_option(*a.cmd, a.device);
  a.cmd->footer(
      "Example:\n  mptrain sample --config configs/charlm_gpt.yaml --checkpoint "
      "runs/charlm_gpt/checkpoints/step_00002000.h5 --prompt \"In the beginning\" --tokens 300 "
      "--temperature 0.8 --top-k 20 --seed 1");
}

// A subcommand was given: the training options before it are a mistake, not ignored.
void refuse_train_options(const RunArgs& run) {
  for (const CLI::Option* o : run.train_only)
    if (o->count() > 0)
      usage_error(o->get_name() + " is an option of training, not of this subcommand; give the "
                  "subcommand's own options after its name");
  if (!run.sets.empty())
    usage_error("--set goes after the subcommand name (mptrain sweep --config FILE --set ...)");
}

// mptrain --config F [--print-config | --dry-run | train].
int run_train(RunArgs& run, int verbosity) {
  if (run.config.empty())
    usage_error("--config is required (e.g. mptrain --config configs/mnist_mlp.yaml), or a "
                "subcommand: sweep, eval, export, inspect, sample, tune-precision");
  if (run.threads >= 0) run.sets.push_back("threads=" + std::to_string(run.threads));
  const RunSpec spec = load_for_run(run.config, run.sets, run.device, run.out);
  if (run.print_config) {
    std::fputs(dump_spec(spec).c_str(), stdout);
    return std::fflush(stdout) == 0 ? kExitOk : kExitInternal;
  }
  if (run.dry_run) return cmd_dry_run(spec);
  TrainerOptions opt;  // run_dir "": output.dir of the spec (which holds --out)
  opt.resume = run.resume;
  opt.verbosity = verbosity;
  return cmd_train(spec, opt);
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"mptrain: mixed-precision (fp32/fp16/bf16) trainer driven by a YAML run spec",
               "mptrain"};
  app.footer(kFooter);
  app.set_version_flag("--version", std::string("mptrain ") + mptrain_version());
  app.require_subcommand(0, 1);
  app.fallthrough();  // subcommands added below pass options they do not know up to here

  RunArgs run;
  SweepArgs sweep;
  EvalArgs eval;
  InspectArgs inspect;
  ExportArgs exp;
  TuneArgs tune;
  SampleArgs sample;
  add_train_options(app, run);
  add_sweep_command(app, sweep);
  add_eval_command(app, eval);
  add_inspect_command(app, inspect);
  add_export_command(app, exp);
  add_tune_command(app, tune);
  add_sample_command(app, sample);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    usage_error(e.what());
  }

  const int verbosity = run.quiet ? -1 : run.verbose ? 1 : 0;
  set_log_level(verbosity);

  if (run.print_reference) {
    std::printf("%s\n%s%s\n", kReferenceBegin, reference_markdown().c_str(), kReferenceEnd);
    return kExitOk;
  }
  if (sweep.cmd->parsed() || eval.cmd->parsed() || inspect.cmd->parsed() || exp.cmd->parsed() ||
      tune.cmd->parsed() || sample.cmd->parsed())
    refuse_train_options(run);
  if (sweep.cmd->parsed()) return cmd_sweep(sweep.config, sweep.grid, sweep.sets, sweep.out, verbosity);
  if (inspect.cmd->parsed()) return cmd_inspect(inspect.file);
  if (exp.cmd->parsed()) return cmd_export(exp.checkpoint, exp.dtype, exp.out);
  if (tune.cmd->parsed())
    return cmd_tune_precision(load_for_run(tune.config, tune.sets, tune.device, ""), tune.steps,
                              tune.candidates, tune.write, verbosity);
  if (eval.cmd->parsed())
    return cmd_eval(load_for_run(eval.config, eval.sets, eval.device, ""), eval.checkpoint,
                    !eval.compare.empty());
  if (sample.cmd->parsed())
    return cmd_sample(load_for_run(sample.config, sample.sets, sample.device, ""), sample.opt);
  return run_train(run, verbosity);
}

}  // namespace mp
