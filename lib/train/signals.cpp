// signals.cpp: the handlers only touch a lock-free atomic and call write(2)/_exit(2), all
// async-signal-safe.
#include "train/signals.h"

#include <unistd.h>

#include <atomic>
#include <cstring>

#include "core/error.h"

namespace mp {

namespace {

constexpr int kNoGuard = -1;

std::atomic<int> g_signal{0};
std::atomic<int> g_phase{kNoGuard};  // the innermost guard's SignalPhase
std::atomic<const SignalNotices*> g_notices{nullptr};
static_assert(std::atomic<int>::is_always_lock_free, "signal flag must be lock-free");
static_assert(std::atomic<const SignalNotices*>::is_always_lock_free, "notices must be lock-free");

const SignalNotices kTrainingNotices = {
    "\nmptrain: interrupt during start-up: quitting; nothing was trained yet\n",
    "\nmptrain: terminate during start-up: quitting; nothing was trained yet\n",
    "\nmptrain: interrupt: stopping after this step and saving a checkpoint (press Ctrl-C again to "
    "quit at once)\n",
    "\nmptrain: terminate: stopping after this step and saving a checkpoint\n",
    "\nmptrain: second interrupt: quitting now; the last finished checkpoint is intact\n",
};

void say(const char* msg) {
  ssize_t ignored = ::write(STDERR_FILENO, msg, std::strlen(msg));
  (void)ignored;
}

int exit_code_of(int sig) { return sig == SIGINT ? kExitSigint : kExitSigterm; }

extern "C" void on_stop_signal(int sig) {
  const SignalNotices& n = *g_notices.load();
  if (g_phase.load() == static_cast<int>(SignalPhase::StartUp)) {
    say(sig == SIGINT ? n.interrupt_at_startup : n.terminate_at_startup);
    ::_exit(exit_code_of(sig));
  }
  int expected = 0;
  if (g_signal.compare_exchange_strong(expected, sig)) {
    say(sig == SIGINT ? n.interrupt : n.terminate);
    return;
  }
  if (sig == SIGINT) {
    say(n.second_interrupt);
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

const SignalNotices& training_signal_notices() { return kTrainingNotices; }

SignalGuard::SignalGuard(SignalPhase phase, const SignalNotices& notices) : notices_(notices) {
  const int outer = g_phase.load();
  MP_CHECK(outer == kNoGuard || (outer == static_cast<int>(SignalPhase::BetweenRuns) &&
                                 phase != SignalPhase::BetweenRuns),
           "a SignalGuard is already active");
  outer_phase_ = outer;
  outer_notices_ = g_notices.load();
  outer_signal_ = g_signal.exchange(0);
  g_notices.store(&notices_);
  g_phase.store(static_cast<int>(phase));
  install(SIGINT, old_int_);
  install(SIGTERM, old_term_);
}

SignalGuard::~SignalGuard() {
  ::sigaction(SIGINT, &old_int_, nullptr);
  ::sigaction(SIGTERM, &old_term_, nullptr);
  g_phase.store(outer_phase_);
  g_notices.store(outer_notices_);
  if (outer_signal_ != 0) g_signal.store(outer_signal_);
}

void SignalGuard::training_started() { g_phase.store(static_cast<int>(SignalPhase::Training)); }

bool stop_requested() { return g_signal.load(std::memory_order_relaxed) != 0; }

int stop_signal() { return g_signal.load(std::memory_order_relaxed); }

int stop_exit_code() {
  const int sig = stop_signal();
  return sig == 0 ? 0 : exit_code_of(sig);
}

}  // namespace mp
