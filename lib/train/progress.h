// progress.h: the one-line progress bar drawn on a terminal (step/total, loss, lr, loss scale,
// samples/s, ETA), redrawn in place with '\r' at most every 0.1 s. When stdout is not a terminal
// the bar is disabled and the caller logs plain lines through spdlog instead.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace mp {

// isatty(stdout): whether a progress bar makes sense.
bool stdout_is_tty();

// What one progress line shows. eta_s < 0 = not known yet.
struct ProgressLine {
  int64_t step = 0;
  int64_t total = 0;
  double loss = 0;
  double lr = 0;
  double loss_scale = 1;
  double samples_per_s = 0;
  double eta_s = -1;
};

// The line without control characters, at most `width` - 1 characters wide:
// "step 120/1000 [###.........]  12% loss 0.4312 lr 1.00e-03 scale 65536 1234 samples/s ETA 1:23"
std::string render_progress(const ProgressLine& line, int width);

class ProgressBar {
 public:
  using Clock = std::chrono::steady_clock;

  // A disabled bar ignores every call. `out` must be a terminal for the output to make sense.
  ProgressBar(int64_t total_steps, bool enabled, std::FILE* out = stdout,
              double min_interval_s = 0.1);
  ~ProgressBar();  // ends the line if one is drawn
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  bool enabled() const { return enabled_; }
  // Records the state after `step`; redraws when min_interval_s passed since the last draw.
  void update(int64_t step, double loss, double lr, double loss_scale, double samples_per_s) {
    update_at(Clock::now(), step, loss, lr, loss_scale, samples_per_s);
  }
  void update_at(Clock::time_point now, int64_t step, double loss, double lr, double loss_scale,
                 double samples_per_s);
  // Erases the line so a log message can be printed; the next update redraws at once.
  void clear();
  // Draws the last state and ends the line (call before printing the final summary).
  void finish();
  // How many times the line was drawn (tests).
  int64_t draws() const { return draws_; }

 private:
  void draw();

  int64_t total_;
  bool enabled_;
  std::FILE* out_;
  Clock::duration min_interval_;
  bool drawn_ = false;  // a line is on screen, not yet ended
  bool force_ = true;   // draw at the next update regardless of the interval
  int64_t draws_ = 0;
  Clock::time_point last_draw_{};
  Clock::time_point first_time_{};
  int64_t first_step_ = -1;
  ProgressLine line_;
};

}  // namespace mp
