// sweep_runner.cpp: `mptrain sweep` pieces: --grid parsing, the cartesian product and point ids,
// summary.json read back, sweep.csv / report.md text, and run_sweep in-process on synthetic data
// (validation before anything is created, results, skipping finished points, a config change).
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "data/synthetic_data.h"
#include "sweep/sweep.h"
#include "sweep/sweep_grid.h"
#include "sweep/sweep_report.h"
#include "sweep/sweep_summary.h"
#include "unit/checkpoint_fixtures.h"

using namespace mp;
using namespace mp::testing;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::string config_error(const std::vector<std::string>& grid) {
  try {
    parse_grid(grid);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("--grid parsing: values, trimming and every error names the argument") {
  const GridAxis a = parse_grid_axis("precision.policy=fp32, fp16 ,bf16");
  CHECK(a.key == "precision.policy");
  CHECK(a.values == std::vector<std::string>{"fp32", "fp16", "bf16"});
  CHECK(parse_grid_axis("optimizer.lr=1e-3").values == std::vector<std::string>{"1e-3"});
  CHECK(parse_grid_axis("data.file=a=b.h5").values == std::vector<std::string>{"a=b.h5"});

  CHECK(
      contains(config_error({"precision.policy"}), "--grid precision.policy: expected KEY=V1,V2"));
  CHECK(contains(config_error({"=fp32"}), "key before '=' is empty"));
  CHECK(contains(config_error({"precision.policy="}), "empty value list"));
  CHECK(contains(config_error({"precision.policy=fp32,,bf16"}), "empty value in the list"));
  CHECK(contains(config_error({"precision.policy=fp32,"}), "cannot contain a comma"));
  CHECK(contains(config_error({"precision.policy=fp32,fp32"}), "fp32 appears twice"));
  CHECK(contains(config_error({}), "--grid is required"));
  CHECK(contains(config_error({"seed=1", "seed=2"}), "the key seed already has a --grid"));
}

TEST_CASE("the grid is the cartesian product, first axis slowest, with readable unique ids") {
  const auto axes = parse_grid({"precision.policy=fp32,bf16", "train.accum_steps=1,2,4"});
  const auto pts = expand_grid(axes);
  REQUIRE(pts.size() == 6);
  CHECK(pts[0].values == std::vector<std::string>{"fp32", "1"});
  CHECK(pts[1].values == std::vector<std::string>{"fp32", "2"});
  CHECK(pts[2].values == std::vector<std::string>{"fp32", "4"});
  CHECK(pts[3].values == std::vector<std::string>{"bf16", "1"});
  CHECK(pts[5].id == "precision.policy-bf16_train.accum_steps-4");
  CHECK(pts[5].label == "precision.policy=bf16, train.accum_steps=4");
  CHECK(pts[5].overrides ==
        std::vector<std::string>{"precision.policy=bf16", "train.accum_steps=4"});

  // Unsafe characters become '_'; ids that collide after that get -2, -3 in grid order, never an
  // id another point has.
  CHECK(sanitize_id_part("a b/c\"d") == "a_b_c_d");
  CHECK(sanitize_id_part("1e-05") == "1e-05");
  const auto clash = expand_grid(parse_grid({"name=a b,a/b,a_b-2,a_b"}));
  REQUIRE(clash.size() == 4);
  CHECK(clash[0].id == "name-a_b");
  CHECK(clash[1].id == "name-a_b-3");  // "-2" belongs to the third point
  CHECK(clash[2].id == "name-a_b-2");
  CHECK(clash[3].id == "name-a_b-4");

  // Long ids are cut and tagged with a hash of the full text, still unique.
  const std::string long_a(200, 'a');
  const auto cut = expand_grid(parse_grid({"name=" + long_a + "x," + long_a + "y"}));
  CHECK(cut[0].id.size() == 149);
  CHECK(cut[0].id != cut[1].id);
  CHECK(cut[0].id.substr(0, 140) == cut[1].id.substr(0, 140));
}

TEST_CASE("summary.json reads back what summary_json writes; null is NaN; junk is refused") {
  Summary s;
  s.final_train_loss = 0.125;
  s.best_val_loss = 0.25;
  s.steps = 30;
  s.skipped_steps = 2;
  s.samples_per_s = 12345.5;
  s.peak_memory_bytes = 1 << 20;
  s.wall_s = 1.5;
  s.policy = "bf16";
  s.device = "cpu \"x\"";
  std::string err;
  const auto r = parse_summary_json(summary_json(s), &err);
  REQUIRE(r);
  CHECK(r->final_train_loss == 0.125);
  CHECK(r->best_val_loss == 0.25);
  CHECK(std::isnan(r->final_val_accuracy));
  CHECK(r->steps == 30);
  CHECK(r->skipped_steps == 2);
  CHECK(r->samples_per_s == 12345.5);
  CHECK(r->peak_memory_bytes == (1 << 20));
  CHECK(r->policy == "bf16");
  CHECK(r->device == "cpu \"x\"");
  CHECK_FALSE(parse_summary_json("{\"steps\": 3", &err));
  CHECK(contains(err, "expected ',' or '}'"));
  CHECK_FALSE(parse_summary_json("[]", &err));
  CHECK_FALSE(parse_summary_json("{} x", &err));
}

TEST_CASE("sweep.csv: grid columns, then the figures; every row has the header's cell count") {
  const auto axes = parse_grid({"precision.policy=fp32,bf16", "optimizer.lr=0.01,1e30"});
  const auto pts = expand_grid(axes);
  std::vector<PointResult> rs(pts.size());
  for (size_t i = 0; i < pts.size(); ++i) rs[i].point = pts[i];
  Summary s;
  s.final_train_loss = 0.5;
  s.steps = 30;
  s.samples_per_s = 1000;
  s.wall_s = 2;
  rs[0].status = PointStatus::Ok;
  rs[0].summary = s;
  rs[1].status = PointStatus::Failed;
  rs[1].exit_code = kExitNumerical;
  rs[1].message = "2 consecutive steps, \"skipped\"\nlower the lr";
  rs[1].wall_s = 0.25;
  rs[2].status = PointStatus::Interrupted;
  rs[2].summary = s;
  const auto lines = lines_of(sweep_csv(axes, rs));
  CHECK(lines[0] ==
        "precision.policy,optimizer.lr,status,final_train_loss,best_val_loss,final_val_accuracy,"
        "steps,skipped_steps,samples_per_s,peak_memory_bytes,wall_s,point,message");
  // The failed row's message holds a line break, so it spans two text lines.
  const std::string text = sweep_csv(axes, rs);
  std::vector<std::vector<std::string>> rows;
  {
    std::string rec;
    bool quoted = false;
    for (char c : text) {
      if (c == '"') quoted = !quoted;
      if (c == '\n' && !quoted) {
        rows.push_back(csv_cells(rec));
        rec.clear();
      } else {
        rec += c;
      }
    }
  }
  REQUIRE(rows.size() == 5);
  for (const auto& r : rows) CHECK(r.size() == 13);
  CHECK(rows[1][2] == "ok");
  CHECK(rows[1][3] == "0.5");
  CHECK(rows[1][4] == "");  // NaN -> empty
  CHECK(rows[1][11] == "precision.policy-fp32_optimizer.lr-0.01");
  CHECK(rows[2][1] == "1e30");
  CHECK(rows[2][2] == "failed");
  CHECK(rows[2][10] == "0.25");  // wall_s measured by the sweep
  CHECK(rows[2][12] == "2 consecutive steps, \"skipped\"\nlower the lr");
  CHECK(rows[3][2] == "interrupted");
  CHECK(rows[4][2] == "not_run");
}

TEST_CASE("report.md: settings, the table, ratios against the first completed point, failures") {
  const auto axes = parse_grid({"precision.policy=fp32,bf16,fp16"});
  const auto pts = expand_grid(axes);
  std::vector<PointResult> rs(pts.size());
  for (size_t i = 0; i < pts.size(); ++i) rs[i].point = pts[i];
  Summary s;
  s.steps = 30;
  s.device = "cpu";
  s.samples_per_s = 1000;
  rs[0].status = PointStatus::Ok;
  rs[0].summary = s;
  s.samples_per_s = 1800;
  rs[1].status = PointStatus::Ok;
  rs[1].summary = s;
  rs[1].reused = true;
  rs[2].status = PointStatus::Failed;
  rs[2].exit_code = kExitNumerical;
  rs[2].message = "diverged | badly";
  SweepInfo info;
  info.name = "mnist";
  info.config = "configs/mnist_mlp.yaml";
  info.command =
      "mptrain sweep --config configs/mnist_mlp.yaml --grid precision.policy=fp32,bf16,fp16";
  info.dir = "runs/sweep_mnist";
  info.sets = {"train.epochs=1"};
  info.axes = axes;
  info.finished = true;
  info.plot_note = "no Python at /nonexistent";
  const std::string md = sweep_report_md(info, rs);
  CHECK(contains(md, "Base config: `configs/mnist_mlp.yaml`"));
  CHECK(contains(md, "`train.epochs=1`"));
  CHECK(contains(md, "`precision.policy` = fp32, bf16, fp16"));
  CHECK(contains(md, "- Device: cpu"));
  CHECK(contains(md, "| point | precision.policy | status |"));
  CHECK(contains(md, "| `precision.policy-bf16` | bf16 | ok (earlier) |"));
  CHECK(contains(md, "| 1.80x |"));
  CHECK(contains(md, "policy=bf16 1.80x policy=fp32"));
  CHECK(contains(md, "measured by an earlier invocation"));
  CHECK(contains(md, "failed, exit 4 (numerical failure): diverged \\| badly"));
  CHECK(contains(md, "No plots: no Python at /nonexistent"));
  CHECK_FALSE(contains(md, "loss.png"));
  info.plots_drawn = true;
  const std::string with_plots = sweep_report_md(info, rs);
  CHECK(contains(with_plots, "![train loss vs step](loss.png)"));
  CHECK(contains(with_plots, "(val.png)"));
  CHECK(contains(with_plots, "(loss_scale.png)"));
}

TEST_CASE("run_sweep: checks every point first, runs them, records a divergence, skips done ones") {
  TempDir tmp("sweep");
  write_synthetic_classification((tmp.path / "data.h5").string(), 512, 128, 12, 4, 5);
  const fs::path cfg = tmp.path / "run.yaml";
  std::ofstream(cfg) << "name: sweep_unit\nseed: 1\ndevice: cpu\nthreads: 1\n"
                     << "data: {file: " << (tmp.path / "data.h5").string() << ", batch_size: 32}\n"
                     << "model:\n  layers:\n    - linear: {out: 16}\n    - relu\n"
                     << "    - linear: {out: 4}\n"
                     << "optimizer: {type: sgd, lr: 0.05}\n"
                     << "train: {steps: 8, log_every: 2, eval_every: 4, checkpoint_every: 0}\n";
  SweepOptions o;
  o.config = cfg.string();
  o.out_dir = (tmp.path / "sw").string();
  o.python = "/nonexistent/python3";  // plots are the e2e test's business
  o.verbosity = -1;

  SUBCASE("a bad value anywhere in the grid fails before anything is created") {
    o.grid = {"precision.policy=fp32,bf16", "train.accum_steps=1,2,zero"};
    try {
      run_sweep(o);
      FAIL("no ConfigError");
    } catch (const ConfigError& e) {
      CHECK(
          contains(e.what(), "sweep point 3 of 6 (precision.policy=fp32, train.accum_steps=zero)"));
      CHECK(contains(e.what(), "--grid train.accum_steps:"));
    }
    CHECK_FALSE(fs::exists(o.out_dir));
    o.grid = {"precision.polcy=fp32"};
    CHECK_THROWS_AS(run_sweep(o), ConfigError);
    CHECK_FALSE(fs::exists(o.out_dir));
  }

  SUBCASE("results, a failed point, and a second invocation skipping finished points") {
    o.grid = {"optimizer.lr=0.05,1e30", "precision.policy=fp32,bf16"};
    o.sets = {"precision.loss_scale.max_consecutive_skips=2"};
    CHECK(run_sweep(o) == kExitNumerical);  // the first failed point's exit code
    const fs::path dir = o.out_dir;
    for (const char* id :
         {"optimizer.lr-0.05_precision.policy-fp32", "optimizer.lr-0.05_precision.policy-bf16"}) {
      CHECK(fs::exists(dir / id / "summary.json"));
      CHECK(fs::exists(dir / id / "config.yaml"));
      CHECK_FALSE(fs::exists(dir / id / kSweepUnfinishedMarker));
    }
    CHECK(fs::exists(dir / "optimizer.lr-1e30_precision.policy-fp32" / kSweepUnfinishedMarker));
    const auto lines = lines_of(slurp(dir / "sweep.csv"));
    REQUIRE(lines.size() == 5);
    CHECK(lines[1].rfind("0.05,fp32,ok,", 0) == 0);
    CHECK(lines[3].rfind("1e30,fp32,failed,", 0) == 0);
    CHECK(contains(lines[3], "consecutive"));
    const std::string md = slurp(dir / "report.md");
    CHECK(contains(md, "2 ok, 2 failed"));
    CHECK(contains(md, "No plots: no Python at /nonexistent/python3"));

    // Again: the finished points are skipped, the failed ones run (and fail) again.
    CHECK(run_sweep(o) == kExitNumerical);
    const auto again = lines_of(slurp(dir / "sweep.csv"));
    CHECK(contains(again[1], "finished by an earlier invocation"));
    CHECK(contains(again[2], "finished by an earlier invocation"));
    CHECK(contains(again[3], ",failed,"));

    // Another base spec into the same directory is refused before anything runs.
    o.sets.push_back("optimizer.momentum=0.5");
    try {
      run_sweep(o);
      FAIL("no ConfigError");
    } catch (const ConfigError& e) {
      CHECK(contains(e.what(), "holds a run of another spec"));
      CHECK(contains(e.what(), "momentum"));
    }
  }
}
