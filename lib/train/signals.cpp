// signals.cpp: the handlers only touch a lock-free atomic and call write(2)/_exit(2), all
// async-signal-safe.
#include "train/signals.h"

#include <unistd.h>

#include <atomic>
#include <cstring>

#include "core/error.h"

namespace mp {

namespace {

std::atomic<int> g_signal{0};
std::atomic<bool> g_guard_active{false};
std::atomic<bool> g_starting_up{false};
static_assert(std::atomic<int>::is_always_lock_free, "signal flag must be lock-free");
static_assert(std::atomic<bool>::is_always_lock_free, "phase flag must be lock-free");

void say(const char* msg) {
  ssize_t ignored = ::write(STDERR_FILENO, msg, std::strlen(msg));
  (void)ignored;
}

extern "C" void on_stop_signal(int sig) {
  if (g_starting_up.load()) {
    say(sig == SIGINT ? "\nmptrain: interrupt during start-up: quitting; nothing was trained yet\n"
                      : "\nmptrain: terminate during start-up: quitting; nothing was trained yet\n");
    ::_exit(sig == SIGINT ? kExitSigint : kExitSigterm);
  }
  int expected = 0;
  if (g_signal.compare_exchange_strong(expected, sig)) {
    say(sig == SIGINT ? "\nmptrain: interrupt: stopping after this step and saving a checkpoint "
                        "(press Ctrl-C again to quit at once)\n"
                      : "\nmptrain: terminate: stopping after this step and saving a checkpoint\n");
    return;
  }
  if (sig == SIGINT) {
    say("\nmptrain: second interrupt: quitting now; the last finished checkpoint is intact\n");
    ::_exit(kExitSigint);
  }
  // A repeated SIGTERM: the stop is already under way.
}

void install(int sig, struct sigaction& old) {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // blocking reads/writes in the loop resume instead of failing (EINTR)
  MP_CHECK(::sigaction(sig, &sa, &old) == 0, "sigaction failed for signal " + std::to_string(sig));
}

}  // namespace

SignalGuard::SignalGuard(SignalPhase phase) {
  MP_CHECK(!g_guard_active.exchange(true), "a SignalGuard is already active");
  g_signal.store(0);
  g_starting_up.store(phase == SignalPhase::StartUp);
  install(SIGINT, old_int_);
  install(SIGTERM, old_term_);
}

SignalGuard::~SignalGuard() {
  ::sigaction(SIGINT, &old_int_, nullptr);
  ::sigaction(SIGTERM, &old_term_, nullptr);
  g_starting_up.store(false);
  g_guard_active.store(false);
}

void SignalGuard::training_started() { g_starting_up.store(false); }

bool stop_requested() { return g_signal.load(std::memory_order_relaxed) != 0; }

int stop_signal() { return g_signal.load(std::memory_order_relaxed); }

int stop_exit_code() {
  switch (stop_signal()) {
    case SIGINT:
      return kExitSigint;
    case SIGTERM:
      return kExitSigterm;
    default:
      return 0;
  }
}

}  // namespace mp
