// optim_lr_schedule.cpp: schedules against closed-form values (warmup, cosine endpoints and
// midpoint, linear decay, step decay), and spec validation.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "core/error.h"
#include "optim/lr_schedule.h"

using namespace mp;

namespace {

ScheduleSpec sched(const char* type, int64_t warmup = 0, double min_ratio = 0.0) {
  ScheduleSpec s;
  s.type = type;
  s.warmup_steps = warmup;
  s.min_lr_ratio = min_ratio;
  return s;
}

}  // namespace

TEST_CASE("constant") {
  const LrSchedule s(sched("constant"), 0.1);
  for (int64_t i : {0, 1, 57, 100000}) CHECK(s.lr(i, 100) == 0.1);
}

TEST_CASE("linear warmup reaches the base lr at the last warmup step") {
  const LrSchedule s(sched("constant", 4), 0.8);
  CHECK(s.lr(0, 100) == doctest::Approx(0.2));
  CHECK(s.lr(1, 100) == doctest::Approx(0.4));
  CHECK(s.lr(2, 100) == doctest::Approx(0.6));
  CHECK(s.lr(3, 100) == doctest::Approx(0.8));
  CHECK(s.lr(4, 100) == 0.8);
  CHECK(s.lr(50, 100) == 0.8);
}

TEST_CASE("cosine: endpoints, midpoint, min_lr_ratio, and after the end") {
  const double base = 3e-4, r = 0.1;
  const LrSchedule s(sched("cosine", 10, r), base);
  const int64_t T = 110;  // 100 decay steps after 10 warmup steps
  CHECK(s.lr(9, T) == doctest::Approx(base));
  CHECK(s.lr(10, T) == doctest::Approx(base));  // p = 0
  CHECK(s.lr(60, T) == doctest::Approx(base * (r + (1 - r) * 0.5)));  // p = 1/2
  CHECK(s.lr(35, T) == doctest::Approx(base * (r + (1 - r) * 0.5 * (1 + std::cos(std::numbers::pi / 4)))));
  CHECK(s.lr(110, T) == doctest::Approx(base * r));  // p = 1
  CHECK(s.lr(500, T) == doctest::Approx(base * r));  // clamped past the end
  // Monotone non-increasing after warmup.
  for (int64_t i = 10; i < T; ++i) CHECK(s.lr(i + 1, T) <= s.lr(i, T));
}

TEST_CASE("linear decay") {
  const LrSchedule s(sched("linear", 0, 0.0), 1.0);
  CHECK(s.lr(0, 4) == 1.0);
  CHECK(s.lr(1, 4) == doctest::Approx(0.75));
  CHECK(s.lr(2, 4) == doctest::Approx(0.5));
  CHECK(s.lr(4, 4) == doctest::Approx(0.0));
  const LrSchedule m(sched("linear", 2, 0.5), 2.0);
  CHECK(m.lr(0, 12) == doctest::Approx(1.0));
  CHECK(m.lr(2, 12) == doctest::Approx(2.0));
  CHECK(m.lr(7, 12) == doctest::Approx(2.0 * (1 - 0.5 * 0.5)));
  CHECK(m.lr(12, 12) == doctest::Approx(1.0));
}

TEST_CASE("step decay counts from the end of warmup") {
  ScheduleSpec sp = sched("step", 5);
  sp.step_size = 10;
  sp.gamma = 0.5;
  const LrSchedule s(sp, 1.0);
  CHECK(s.lr(4, 0) == doctest::Approx(1.0));
  CHECK(s.lr(5, 0) == 1.0);
  CHECK(s.lr(14, 0) == 1.0);
  CHECK(s.lr(15, 0) == 0.5);
  CHECK(s.lr(24, 0) == 0.5);
  CHECK(s.lr(25, 0) == 0.25);
  CHECK(s.lr(105, 0) == doctest::Approx(std::pow(0.5, 10)));
}

TEST_CASE("schedule spec validation") {
  CHECK_THROWS_WITH_AS(LrSchedule(sched("exponential"), 0.1), doctest::Contains("schedule.type"),
                       ConfigError);
  CHECK_THROWS_AS(LrSchedule(sched("cosine", -1), 0.1), ConfigError);
  CHECK_THROWS_AS(LrSchedule(sched("cosine", 0, 1.5), 0.1), ConfigError);
  CHECK_THROWS_AS(LrSchedule(sched("constant"), 0.0), ConfigError);
  ScheduleSpec st = sched("step");
  st.step_size = 0;
  CHECK_THROWS_AS(LrSchedule(st, 0.1), ConfigError);
}
