// train_run_files.cpp: metrics/eval/telemetry CSV logs (flushed appends, resume truncation, number
// formatting), summary.json (content, escaping, NaN as null, valid JSON), and atomic file writes.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>

#include "checkpoint/atomic_file.h"
#include "core/error.h"
#include "train/run_files.h"
#include "unit/checkpoint_fixtures.h"

using namespace mp;
using namespace mp::testing;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

void spit(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

MetricsRow row(int64_t step) {
  return {step,
          step / 4,
          2.0 / static_cast<double>(step),
          1e-3 * static_cast<double>(step),
          65536.0,
          0.1 * static_cast<double>(step),
          step % 5 == 0,
          1234.5,
          0.25 * static_cast<double>(step)};
}

std::string data_error(void (*fn)(const fs::path&), const fs::path& p) {
  try {
    fn(p);
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

bool no_temp_files(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (is_temp_name(e.path().filename().string())) return false;
  return true;
}

}  // namespace

TEST_CASE("numbers are written in the shortest form that reads back to the same double") {
  CHECK(format_number(0.1) == "0.1");
  CHECK(format_number(65536.0) == "65536");
  CHECK(format_number(1e-5) == "1e-05");
  CHECK(format_number(-2.5) == "-2.5");
  CHECK(format_number(0.0) == "0");
  CHECK(format_number(std::nan("")) == "nan");
  CHECK(format_number(-std::numeric_limits<double>::infinity()) == "-inf");
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    uint64_t bits = rng();
    double v;
    std::memcpy(&v, &bits, 8);
    if (!std::isfinite(v)) continue;
    const std::string s = format_number(v);
    double back = 0;
    auto res = std::from_chars(s.data(), s.data() + s.size(), back);
    REQUIRE(res.ec == std::errc());
    CHECK(std::memcmp(&back, &v, 8) == 0);
  }
}

TEST_CASE("metrics and eval rows") {
  CHECK(metrics_csv_row({12, 3, 0.5, 0.001, 65536, 1.25, true, 5120.5, 3.25}) ==
        "12,3,0.5,0.001,65536,1.25,1,5120.5,3.25");
  CHECK(eval_csv_row(100, 0.25, 0.9375) == "100,0.25,0.9375");
  CHECK(eval_csv_row(100, 0.25, -1) == "100,0.25,");
  CHECK(eval_csv_row(100, 0.25, std::nan("")) == "100,0.25,");
}

TEST_CASE("metrics.csv: header, every row on disk as soon as it is appended") {
  TempDir dir("metrics");
  const fs::path p = dir.path / "metrics.csv";
  MetricsLog log(p, 0);
  CHECK(read_file(p) == std::string(kMetricsHeader) + "\n");
  log.append(row(1));
  log.append(row(2));
  CHECK(read_file(p) == std::string(kMetricsHeader) + "\n" + metrics_csv_row(row(1)) + "\n" +
                            metrics_csv_row(row(2)) + "\n");
}

TEST_CASE("resuming a log keeps the rows up to the resumed step and drops the rest") {
  TempDir dir("metrics_resume");
  const fs::path p = dir.path / "metrics.csv";
  std::string upto6;
  {
    MetricsLog log(p, 0);
    for (int64_t s = 1; s <= 10; ++s) {
      log.append(row(s));
      if (s == 6) upto6 = read_file(p);
    }
  }
  // A crash cut the next row short.
  {
    std::ofstream out(p, std::ios::app);
    out << "11,2,0.18";
  }
  SUBCASE("resume from step 6, then go on") {
    MetricsLog log(p, 6);
    CHECK(read_file(p) == upto6);
    log.append(row(7));
    CHECK(read_file(p) == upto6 + metrics_csv_row(row(7)) + "\n");
  }
  SUBCASE("resume from the last step: only the cut row goes") {
    MetricsLog log(p, 10);
    const std::string text = read_file(p);
    CHECK(contains(text, metrics_csv_row(row(10)) + "\n"));
    CHECK_FALSE(contains(text, "11,2"));
  }
  SUBCASE("a fresh run (0) starts over") {
    MetricsLog log(p, 0);
    CHECK(read_file(p) == std::string(kMetricsHeader) + "\n");
  }
  SUBCASE("a missing file on resume starts with the header") {
    fs::remove(p);
    MetricsLog log(p, 6);
    CHECK(read_file(p) == std::string(kMetricsHeader) + "\n");
  }
  SUBCASE("a file with another header is refused") {
    spit(p, "step,loss\n1,0.5\n");
    try {
      MetricsLog log(p, 6);
      FAIL("expected a DataError");
    } catch (const DataError& e) {
      CHECK(contains(e.what(), p.string() + ":1: expected the header"));
      CHECK(read_file(p) == "step,loss\n1,0.5\n");  // untouched
    }
  }
  SUBCASE("a row without a step is refused with its line number") {
    spit(p, std::string(kMetricsHeader) + "\n1,0,0.5,0,1,0,0,1,1\nbanana,0\n");
    try {
      EvalLog log(p, 6);
      FAIL("expected a DataError");
    } catch (const DataError& e) {
      CHECK(contains(e.what(), "expected the header"));  // eval header differs from metrics
    }
    try {
      MetricsLog log(p, 6);
      FAIL("expected a DataError");
    } catch (const DataError& e) {
      CHECK(contains(e.what(), p.string() + ":3: expected a row starting with a step number"));
    }
  }
}

TEST_CASE("eval.csv and telemetry.csv follow the same rules") {
  TempDir dir("eval");
  const fs::path e = dir.path / "eval.csv";
  {
    EvalLog log(e, 0);
    log.append(50, 0.5, 0.875);
    log.append(100, 0.25, -1);
  }
  EvalLog resumed(e, 50);
  CHECK(read_file(e) == "step,val_loss,val_accuracy\n50,0.5,0.875\n");

  const fs::path t = dir.path / "telemetry.csv";
  {
    TelemetryLog log(t, "step,amax,underflow_frac", 0);
    log.append(1, {448.0, 0.125});
    log.append(2, {std::nan(""), 0.0});
    CHECK_THROWS_AS(log.append(3, {1.0}), InternalError);
  }
  CHECK(read_file(t) == "step,amax,underflow_frac\n1,448,0.125\n2,nan,0\n");
  CHECK_THROWS_AS(TelemetryLog(t, "amax,step", 0), InternalError);
}

TEST_CASE("summary.json holds every figure, escapes strings and writes NaN as null") {
  Summary s;
  s.final_train_loss = 0.125;
  s.best_val_loss = std::nan("");
  s.final_val_accuracy = std::numeric_limits<double>::infinity();
  s.steps = 500;
  s.skipped_steps = 3;
  s.samples_per_s = 1e5;
  s.peak_memory_bytes = int64_t{1} << 40;
  s.wall_s = 12.5;
  s.policy = "fp16";
  s.device = "cpu \"x\\y\"\n\x01";
  s.world_size = 2;
  s.comm_s_per_step = 0.25;
  s.optimizer_state_bytes = 4384;
  s.graph_captures = 1;
  s.graph_replays = 7;
  s.graph_fallbacks = 2;
  const std::string j = summary_json(s);
  CHECK(j ==
        "{\n"
        "  \"final_train_loss\": 0.125,\n"
        "  \"best_val_loss\": null,\n"
        "  \"final_val_accuracy\": null,\n"
        "  \"steps\": 500,\n"
        "  \"skipped_steps\": 3,\n"
        "  \"samples_per_s\": 1e+05,\n"  // shortest form, valid JSON
        "  \"peak_memory_bytes\": 1099511627776,\n"
        "  \"wall_s\": 12.5,\n"
        "  \"policy\": \"fp16\",\n"
        "  \"device\": \"cpu \\\"x\\\\y\\\"\\n\\u0001\",\n"
        "  \"world_size\": 2,\n"
        "  \"comm_s_per_step\": 0.25,\n"
        "  \"optimizer_state_bytes\": 4384,\n"
        "  \"graph_captures\": 1,\n"
        "  \"graph_replays\": 7,\n"
        "  \"graph_fallbacks\": 2\n"
        "}\n");
  CHECK(Summary{}.best_val_loss != Summary{}.best_val_loss);  // unset figures default to NaN (null)

  TempDir dir("summary");
  const fs::path p = dir.path / "summary.json";
  write_summary_json(p, s);
  CHECK(read_file(p) == j);
  if (std::system("python3 -c 'import json' >/dev/null 2>&1") != 0) {
    MESSAGE("no python3: JSON parse check skipped");
    return;
  }
  const std::string cmd =
      "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
      "assert d[\"best_val_loss\"] is None and d[\"steps\"] == 500 and d[\"device\"] == \"cpu "
      "\\\"x\\\\y\\\"\\n\\x01\"' " +
      p.string();
  CHECK(std::system(cmd.c_str()) == 0);
}

TEST_CASE("write_file_atomic replaces the whole file, or leaves the old one and no temp file") {
  TempDir dir("atomic");
  const fs::path p = dir.path / "config.yaml";
  write_file_atomic(p, "old: 1\n");
  write_file_atomic(p, "new: 2\n");
  CHECK(read_file(p) == "new: 2\n");
  CHECK(no_temp_files(dir.path));

  SUBCASE("the parent is a file") {
    spit(dir.path / "f", "x");
    const std::string e = data_error(
        [](const fs::path& q) { write_file_atomic(q / "config.yaml", "a"); }, dir.path / "f");
    CHECK(contains(e, (dir.path / "f" / "config.yaml").string()));
    CHECK(contains(e, std::strerror(ENOTDIR)));
  }
  SUBCASE("the write itself fails (file size limit) in a child process") {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      std::signal(SIGXFSZ, SIG_IGN);
      struct rlimit lim {
        1024, 1024
      };
      ::setrlimit(RLIMIT_FSIZE, &lim);
      try {
        write_file_atomic(p, std::string(1 << 20, 'z'));
      } catch (const DataError& e) {
        ::_exit(contains(e.what(), std::strerror(EFBIG)) && contains(e.what(), p.string()) ? 0 : 2);
      }
      ::_exit(3);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(read_file(p) == "new: 2\n");
    CHECK(no_temp_files(dir.path));
  }
  SUBCASE("the target is a directory: the rename fails") {
    fs::create_directories(dir.path / "d" / "x");
    CHECK_THROWS_AS(write_file_atomic(dir.path / "d", "a"), DataError);
    CHECK(fs::is_directory(dir.path / "d" / "x"));
    CHECK(no_temp_files(dir.path));
  }
  SUBCASE("reading a missing file names it") {
    const std::string e = data_error([](const fs::path& q) { read_file(q); }, dir.path / "nope");
    CHECK(contains(e, (dir.path / "nope").string()));
  }
}

TEST_CASE("remove_temp_files deletes what a killed writer left and nothing else") {
  TempDir dir("tempfiles");
  spit(dir.path / ".config.yaml.tmp.4242.0", "half");
  spit(dir.path / "config.yaml", "whole");
  spit(dir.path / ".hidden", "user file");
  remove_temp_files(dir.path);
  CHECK_FALSE(fs::exists(dir.path / ".config.yaml.tmp.4242.0"));
  CHECK(fs::exists(dir.path / "config.yaml"));
  CHECK(fs::exists(dir.path / ".hidden"));
  CHECK(is_temp_name(temp_path_for(dir.path / "metrics.csv").filename().string()));
}
