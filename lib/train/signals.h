// signals.h: graceful stop on SIGINT/SIGTERM. While a SignalGuard lives, the first SIGINT or
// SIGTERM only sets a flag; the training loop polls stop_requested() after each step, saves a
// checkpoint and returns stop_exit_code() (130 or 143, docs/ARCHITECTURE.md "Run directory and exit codes"). A second SIGINT while
// that stop is pending ends the process at once with _exit(130) (a user pressing Ctrl-C twice).
// That is safe because checkpoints, `latest`, summary.json and config.yaml appear only by rename of
// a finished temp file (atomic_file.h, checkpoint_store.h): an interrupted write leaves a stray
// temp file, never a damaged checkpoint. The CSV logs may lose a half-written last row, which a
// resume drops (run_files.h).
//
// Start-up (opening and scanning the data, loading it into memory, building the first epoch
// order, the first step) has no step boundary to stop at and may sit in one long HDF5 call, so a
// guard made for start-up ends the process at once on the first SIGINT/SIGTERM (130/143): until
// the first step has finished nothing was trained that a checkpoint would keep. The trainer
// switches to the graceful stop when that step is done.
//
// A driver of several runs (`mptrain sweep`) holds a guard for the phase BetweenRuns with its own
// notices: a signal there requests a stop after the current run. The guard of the run it starts
// nests inside it; when that inner guard ends, a signal that reached the outer guard before the
// run started is still pending, and one that stopped the run is seen by the driver too.
#pragma once
#include <csignal>

namespace mp {

enum class SignalPhase {
  StartUp,      // a signal quits at once with 130/143
  Training,     // a signal requests a stop (stop_requested()); a second SIGINT quits at once
  BetweenRuns,  // as Training, for a driver of runs; a run's guard may nest inside it
};

// What a guard writes to stderr when a signal arrives (static text: the handler only write(2)s
// it). Each line starts with "\n" so it does not join a progress bar.
struct SignalNotices {
  const char* interrupt_at_startup;
  const char* terminate_at_startup;
  const char* interrupt;         // the first SIGINT: a stop is requested
  const char* terminate;         // the first SIGTERM
  const char* second_interrupt;  // a second SIGINT: quitting at once
};

// The training run's notices ("mptrain: interrupt: stopping after this step ...").
const SignalNotices& training_signal_notices();

// Installs the handlers for SIGINT and SIGTERM and clears any earlier stop request; restores the
// previous handlers (and the outer guard's state) when destroyed. One guard at a time, except that
// a StartUp or Training guard may nest inside a BetweenRuns guard; any other nesting is a bug,
// caught by MP_CHECK.
class SignalGuard {
 public:
  explicit SignalGuard(SignalPhase phase = SignalPhase::Training,
                       const SignalNotices& notices = training_signal_notices());
  ~SignalGuard();
  // Start-up is over: from now on a signal requests a graceful stop.
  void training_started();
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
  SignalNotices notices_;
  int outer_phase_ = -1;  // the enclosing guard's phase, -1 when none
  const SignalNotices* outer_notices_ = nullptr;
  int outer_signal_ = 0;  // a stop the enclosing guard had noted before this one began
};

// True once SIGINT or SIGTERM arrived (async-signal-safe flag; cheap to poll every step).
bool stop_requested();
// The signal that requested the stop (SIGINT or SIGTERM), 0 when none.
int stop_signal();
// The exit code for that signal: 130 for SIGINT, 143 for SIGTERM, 0 when none.
int stop_exit_code();

}  // namespace mp
