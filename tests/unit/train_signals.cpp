// train_signals.cpp: SIGINT/SIGTERM set the stop flag and exit code, a second SIGINT exits at once
// with 130, a signal during start-up exits at once with 130/143, the guard puts back the
// handlers it replaced, and a run's guard nests inside a driver's (BetweenRuns, `mptrain sweep`).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include "core/error.h"
#include "train/signals.h"

using namespace mp;

namespace {

volatile std::sig_atomic_t g_old_handler_calls = 0;
extern "C" void old_handler(int) { g_old_handler_calls = g_old_handler_calls + 1; }

void (*current_handler(int sig))(int) {
  struct sigaction sa {};
  ::sigaction(sig, nullptr, &sa);
  return sa.sa_handler;
}

// Runs `body` in a child process with stderr silenced; returns its exit code (-signal if killed).
int in_child(void (*body)()) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, STDERR_FILENO);
    body();
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

}  // namespace

TEST_CASE("SIGTERM requests a stop with exit code 143; a repeat changes nothing") {
  SignalGuard guard;
  CHECK_FALSE(stop_requested());
  CHECK(stop_signal() == 0);
  CHECK(stop_exit_code() == 0);
  std::raise(SIGTERM);
  CHECK(stop_requested());
  CHECK(stop_signal() == SIGTERM);
  CHECK(stop_exit_code() == kExitSigterm);
  std::raise(SIGTERM);  // still alive, same request
  CHECK(stop_exit_code() == 143);
}

TEST_CASE("SIGINT requests a stop with exit code 130; a new guard starts clean") {
  {
    SignalGuard guard;
    std::raise(SIGINT);
    CHECK(stop_requested());
    CHECK(stop_signal() == SIGINT);
    CHECK(stop_exit_code() == kExitSigint);
  }
  SignalGuard again;
  CHECK_FALSE(stop_requested());
}

TEST_CASE("a second SIGINT while a stop is pending exits at once with 130") {
  CHECK(in_child([] {
          SignalGuard guard;
          std::raise(SIGINT);
          if (!stop_requested()) ::_exit(5);
          std::raise(SIGINT);
          ::_exit(6);  // not reached
        }) == 130);
  CHECK(in_child([] {  // SIGTERM first, then Ctrl-C: also quits at once
          SignalGuard guard;
          std::raise(SIGTERM);
          std::raise(SIGINT);
          ::_exit(6);
        }) == 130);
}

TEST_CASE("the guard restores the handlers it replaced") {
  struct sigaction sa {
  }, prev_int{}, prev_term{};
  sa.sa_handler = old_handler;
  sigemptyset(&sa.sa_mask);
  REQUIRE(::sigaction(SIGINT, &sa, &prev_int) == 0);
  REQUIRE(::sigaction(SIGTERM, &sa, &prev_term) == 0);
  {
    SignalGuard guard;
    CHECK((current_handler(SIGINT) != old_handler));
    CHECK((current_handler(SIGTERM) != old_handler));
    std::raise(SIGTERM);
    CHECK(g_old_handler_calls == 0);
    CHECK_THROWS_AS(SignalGuard(), InternalError);  // one guard at a time
  }
  CHECK((current_handler(SIGINT) == old_handler));
  CHECK((current_handler(SIGTERM) == old_handler));
  std::raise(SIGTERM);
  CHECK(g_old_handler_calls == 1);
  ::sigaction(SIGINT, &prev_int, nullptr);
  ::sigaction(SIGTERM, &prev_term, nullptr);
}

TEST_CASE("during start-up a signal quits at once; after training_started it requests a stop") {
  CHECK(in_child([] {
          SignalGuard guard(SignalPhase::StartUp);
          std::raise(SIGTERM);
          ::_exit(6);  // not reached: start-up has nothing to save, so no waiting for a step
        }) == 143);
  CHECK(in_child([] {
          SignalGuard guard(SignalPhase::StartUp);
          std::raise(SIGINT);
          ::_exit(6);
        }) == 130);
  CHECK(in_child([] {
          SignalGuard guard(SignalPhase::StartUp);
          guard.training_started();
          std::raise(SIGTERM);
          ::_exit(stop_exit_code() == 143 ? 0 : 5);  // the graceful path: a flag, no exit
        }) == 0);
  CHECK(in_child([] {  // a later guard starts in the phase it is given, not the last one's
          { SignalGuard startup(SignalPhase::StartUp); }
          SignalGuard guard;
          std::raise(SIGINT);
          ::_exit(stop_requested() ? 0 : 5);
        }) == 0);
}

TEST_CASE("a run's guard nests inside a BetweenRuns guard; stops on either side reach the driver") {
  static const SignalNotices quiet = {"", "", "", "", ""};
  CHECK(in_child([] {  // a stop that ended the run is seen by the driver after the run's guard
          SignalGuard driver(SignalPhase::BetweenRuns, quiet);
          {
            SignalGuard run;
            std::raise(SIGTERM);
            if (stop_exit_code() != 143) ::_exit(5);
          }
          ::_exit(stop_exit_code() == 143 ? 0 : 6);
        }) == 0);
  CHECK(in_child([] {  // a stop noted before the run began: the run starts clean, the driver keeps it
          SignalGuard driver(SignalPhase::BetweenRuns, quiet);
          std::raise(SIGINT);
          {
            SignalGuard run(SignalPhase::StartUp);
            if (stop_requested()) ::_exit(5);
            run.training_started();
          }
          ::_exit(stop_exit_code() == 130 ? 0 : 6);
        }) == 0);
  CHECK(in_child([] {  // the run's start-up phase still quits at once inside a driver
          SignalGuard driver(SignalPhase::BetweenRuns, quiet);
          SignalGuard run(SignalPhase::StartUp);
          std::raise(SIGTERM);
          ::_exit(6);
        }) == 143);
  CHECK(in_child([] {  // after the run, the driver's phase is back: a second SIGINT quits
          SignalGuard driver(SignalPhase::BetweenRuns, quiet);
          { SignalGuard run; }
          std::raise(SIGINT);
          std::raise(SIGINT);
          ::_exit(6);
        }) == 130);
  CHECK(in_child([] {  // any other nesting is a bug
          SignalGuard driver(SignalPhase::BetweenRuns, quiet);
          bool refused = false;
          try {
            SignalGuard again(SignalPhase::BetweenRuns, quiet);
          } catch (const InternalError&) {
            refused = true;
          }
          ::_exit(refused ? 0 : 6);
        }) == 0);
}
