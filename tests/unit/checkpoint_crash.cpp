// checkpoint_crash.cpp: kill -9 at random moments while a child process writes large
// checkpoints in a loop; every time, every step_*.h5 present must read back completely (files
// appear by rename only), `latest` must name one of them, and the resume search must return a
// checkpoint holding exactly the values written for its step.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "checkpoint/atomic_file.h"
#include "checkpoint/checkpoint_io.h"
#include "checkpoint/checkpoint_store.h"
#include "unit/checkpoint_fixtures.h"

using namespace mp;
using namespace mp::testing;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

TEST_CASE("kill -9 during checkpoint writes always leaves the last finished checkpoint loadable") {
  TempDir dir("ckpt_crash");
  constexpr size_t kBig = size_t{2} << 20;  // 2M floats in one weight: ~25 MB per checkpoint file
  constexpr int kRounds = 6;

  // How long one save takes here, to aim the kills inside writes.
  const auto t0 = Clock::now();
  save_checkpoint(dir.path, make_checkpoint(1, kBig), 2);
  const double save_s = std::chrono::duration<double>(Clock::now() - t0).count();

  const unsigned seed = std::random_device{}();
  INFO("random seed " << seed << ", one save took " << save_s << " s");
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> delay(0.3 * save_s, 3.0 * save_s);

  int64_t last_good = 1;
  int kills_mid_write = 0;
  for (int round = 0; round < kRounds; ++round) {
    const int64_t first = last_good + 1;
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {  // child: write checkpoints until killed
      try {
        for (int64_t s = first;; ++s) save_checkpoint(dir.path, make_checkpoint(s, kBig), 2);
      } catch (...) {
      }
      ::_exit(1);
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(delay(rng)));
    REQUIRE(::kill(pid, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status));  // it was still writing, not dead of an error

    bool temp_left = false;
    for (const auto& e : fs::directory_iterator(checkpoint_dir(dir.path)))
      temp_left |= is_temp_name(e.path().filename().string());
    kills_mid_write += temp_left;

    INFO("round " << round);
    for (const CheckpointFile& f : list_checkpoints(dir.path))
      CHECK_NOTHROW(read_checkpoint(f.path));
    std::vector<std::string> warnings;
    auto r = find_resume_checkpoint(dir.path, warnings);
    CHECK(warnings.empty());  // `latest` names a complete checkpoint
    REQUIRE(r.has_value());
    CHECK(r->data.step >= last_good);
    const CheckpointData want = make_checkpoint(r->data.step, kBig);
    REQUIRE(r->data.params.size() == want.params.size());
    for (size_t i = 0; i < want.params.size(); ++i)
      CHECK(same_bits(r->data.params[i].values, want.params[i].values));
    REQUIRE(r->data.optimizer.size() == want.optimizer.size());
    for (size_t i = 0; i < want.optimizer.size(); ++i)
      CHECK(same_bits(r->data.optimizer[i].values, want.optimizer[i].values));
    last_good = r->data.step;
  }
  // The point of the test: some kills landed inside a write (a temp file was left behind).
  CHECK(kills_mid_write >= 1);
  MESSAGE(kills_mid_write << " of " << kRounds << " kills landed mid-write; resumed up to step "
                          << last_good);
}
