// progress.cpp: progress line rendering, ETA from the rate since the bar's first update, redraw
// throttling, terminal width from TIOCGWINSZ.
#include "train/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "core/text.h"

namespace mp {

namespace {

std::string format_eta(double s) {
  if (s < 0 || !std::isfinite(s)) return "--:--";
  long long t = std::llround(s);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", t / 3600, (t / 60) % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", t / 60, t % 60);
  return buf;
}

int terminal_width(std::FILE* out) {
  struct winsize ws {};
  if (::ioctl(::fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

}  // namespace

bool stdout_is_tty() { return ::isatty(STDOUT_FILENO) == 1; }

std::string render_progress(const ProgressLine& l, int width) {
  const int64_t total = std::max<int64_t>(l.total, 1);
  const double frac =
      std::clamp(static_cast<double>(l.step) / static_cast<double>(total), 0.0, 1.0);
  const std::string head = "step " + std::to_string(l.step) + "/" + std::to_string(l.total) + " ";
  const std::string tail = " " + printf_text("%3.0f%%", frac * 100) + " loss " + printf_text("%.4g", l.loss) +
                           " lr " + printf_text("%.2e", l.lr) + " scale " + printf_text("%g", l.loss_scale) + " " +
                           printf_text("%.0f", l.samples_per_s) + " samples/s ETA " + format_eta(l.eta_s);
  const int limit = std::max(width - 1, 1);  // never touch the last column: some terminals wrap
  const int room = limit - static_cast<int>(head.size() + tail.size()) - 2;
  std::string line = head;
  if (room >= 10) {
    const int bar = std::min(room, 30);
    const int filled = static_cast<int>(std::floor(frac * bar));
    line += "[" + std::string(static_cast<size_t>(filled), '#') +
            std::string(static_cast<size_t>(bar - filled), '.') + "]";
  }
  line += tail;
  if (static_cast<int>(line.size()) > limit) line.resize(static_cast<size_t>(limit));
  return line;
}

ProgressBar::ProgressBar(int64_t total_steps, bool enabled, std::FILE* out, double min_interval_s)
    : total_(total_steps),
      enabled_(enabled),
      out_(out),
      min_interval_(std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(min_interval_s))) {}

ProgressBar::~ProgressBar() {
  if (enabled_ && drawn_) {
    std::fputc('\n', out_);
    std::fflush(out_);
  }
}

void ProgressBar::update_at(Clock::time_point now, int64_t step, double loss, double lr,
                            double loss_scale, double samples_per_s) {
  if (!enabled_) return;
  if (first_step_ < 0) {
    first_step_ = step;
    first_time_ = now;
  }
  line_.step = step;
  line_.total = total_;
  line_.loss = loss;
  line_.lr = lr;
  line_.loss_scale = loss_scale;
  line_.samples_per_s = samples_per_s;
  const int64_t done = step - first_step_;
  line_.eta_s = -1;
  if (done > 0) {
    const double per_step =
        std::chrono::duration<double>(now - first_time_).count() / static_cast<double>(done);
    line_.eta_s = per_step * static_cast<double>(std::max<int64_t>(total_ - step, 0));
  }
  if (force_ || now - last_draw_ >= min_interval_) {
    last_draw_ = now;
    draw();
  }
}

void ProgressBar::draw() {
  std::string s = "\r" + render_progress(line_, terminal_width(out_)) + "\x1b[K";
  std::fwrite(s.data(), 1, s.size(), out_);
  std::fflush(out_);
  drawn_ = true;
  force_ = false;
  ++draws_;
}

void ProgressBar::clear() {
  if (!enabled_ || !drawn_) return;
  std::fputs("\r\x1b[K", out_);
  std::fflush(out_);
  drawn_ = false;
  force_ = true;
}

void ProgressBar::finish() {
  if (!enabled_ || first_step_ < 0) return;
  draw();
  std::fputc('\n', out_);
  std::fflush(out_);
  drawn_ = false;
  force_ = true;
}

}  // namespace mp
