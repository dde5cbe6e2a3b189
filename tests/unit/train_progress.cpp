// train_progress.cpp: the progress line's content and width, ETA, and redraw throttling.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "train/progress.h"

using namespace mp;
using namespace std::chrono_literals;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::string file_text(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  return out;
}

}  // namespace

TEST_CASE("the progress line shows step, loss, lr, scale, throughput and ETA within the width") {
  ProgressLine l{120, 1000, 0.43125, 1e-3, 65536, 1234.4, 83};
  const std::string wide = render_progress(l, 160);
  INFO(wide);
  CHECK(wide.rfind("step 120/1000 [", 0) == 0);
  CHECK(contains(wide, " 12%"));
  CHECK(contains(wide, "loss 0.4313"));
  CHECK(contains(wide, "lr 1.00e-03"));
  CHECK(contains(wide, "scale 65536"));
  CHECK(contains(wide, "1234 samples/s"));
  CHECK(contains(wide, "ETA 1:23"));
  CHECK(contains(wide, "[###......"));  // 12% of the bar filled

  const std::string narrow = render_progress(l, 60);
  CHECK(narrow.size() <= 59);
  CHECK_FALSE(contains(narrow, "["));  // no room for a bar

  l.eta_s = 3723;
  CHECK(contains(render_progress(l, 160), "ETA 1:02:03"));
  l.eta_s = -1;
  CHECK(contains(render_progress(l, 160), "ETA --:--"));
  l.step = 1000;
  CHECK(contains(render_progress(l, 160), "100%"));
}

TEST_CASE("the bar redraws at most once per interval, estimates the ETA and ends its line") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  {
    ProgressBar bar(110, true, f, 0.1);
    CHECK(bar.enabled());
    const auto t0 = ProgressBar::Clock::time_point{} + 1000s;
    bar.update_at(t0, 10, 1.0, 0.1, 1, 100);         // first: drawn
    bar.update_at(t0 + 50ms, 11, 1.0, 0.1, 1, 100);  // too soon
    bar.update_at(t0 + 80ms, 12, 1.0, 0.1, 1, 100);  // too soon
    CHECK(bar.draws() == 1);
    bar.update_at(t0 + 10s, 20, 0.5, 0.1, 1, 100);  // 10 steps in 10 s, 90 to go
    CHECK(bar.draws() == 2);
    bar.clear();
    bar.update_at(t0 + 10s + 1ms, 21, 0.5, 0.1, 1, 100);  // after clear(): at once
    CHECK(bar.draws() == 3);
    bar.finish();
    CHECK(bar.draws() == 4);
  }
  const std::string out = file_text(f);
  std::fclose(f);
  CHECK(out.rfind("\rstep 10/110", 0) == 0);
  CHECK(contains(out, "step 20/110"));
  CHECK(contains(out, "ETA 1:30"));
  CHECK(contains(out, "\r\x1b[K\rstep 21/110"));
  CHECK(out.back() == '\n');
  CHECK(out.find('\n') == out.size() - 1);  // one line, ended once
}

TEST_CASE("a disabled bar writes nothing") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  {
    ProgressBar bar(10, false, f);
    CHECK_FALSE(bar.enabled());
    bar.update(1, 1.0, 0.1, 1, 10);
    bar.finish();
    CHECK(bar.draws() == 0);
  }
  CHECK(file_text(f).empty());
  std::fclose(f);
}
