// optim_lr_schedule.cpp: schedules against closed-form values (warmup, cosine endpoints and
// midpoint, linear decay, step decay), and spec validation.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <string>

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
  const int64_t T = 111;  // 10 warmup updates, then updates 10..110: p = (s - 10) / 100
  CHECK(s.lr(9, T) == doctest::Approx(base));
  CHECK(s.lr(10, T) == doctest::Approx(base));  // p = 0
  CHECK(s.lr(60, T) == doctest::Approx(base * (r + (1 - r) * 0.5)));  // p = 1/2
  CHECK(s.lr(35, T) == doctest::Approx(base * (r + (1 - r) * 0.5 * (1 + std::cos(std::numbers::pi / 4)))));
  CHECK(s.lr(110, T) == base * r);  // p = 1: the last update, exactly
  CHECK(s.lr(500, T) == base * r);  // clamped past the end
  // Monotone non-increasing after warmup.
  for (int64_t i = 10; i < T; ++i) CHECK(s.lr(i + 1, T) <= s.lr(i, T));
}

TEST_CASE("linear decay") {
  const LrSchedule s(sched("linear", 0, 0.0), 1.0);
  CHECK(s.lr(0, 5) == 1.0);
  CHECK(s.lr(1, 5) == doctest::Approx(0.75));
  CHECK(s.lr(2, 5) == doctest::Approx(0.5));
  CHECK(s.lr(4, 5) == 0.0);
  const LrSchedule m(sched("linear", 2, 0.5), 2.0);
  CHECK(m.lr(0, 13) == doctest::Approx(1.0));
  CHECK(m.lr(2, 13) == doctest::Approx(2.0));
  CHECK(m.lr(7, 13) == doctest::Approx(2.0 * (1 - 0.5 * 0.5)));
  CHECK(m.lr(12, 13) == 1.0);
}

// The closed form for every update of a run of T updates (0-based s), with warmup W.
double expected_lr(const char* type, double base, double r, int64_t W, int64_t T, int64_t s) {
  if (s < W) return base * static_cast<double>(s + 1) / static_cast<double>(W);
  const double p = T - 1 - W <= 0 ? 1.0 : static_cast<double>(s - W) / static_cast<double>(T - 1 - W);
  const double f = std::string(type) == "cosine" ? 0.5 * (1 + std::cos(std::numbers::pi * p)) : 1 - p;
  return base * (r + (1 - r) * f);
}

TEST_CASE("cosine and linear reach lr * min_lr_ratio exactly on the last update of the run") {
  for (const char* type : {"cosine", "linear"})
    for (double r : {0.0, 0.1, 0.3, 1.0 / 3.0})
      for (int64_t W : {0, 1, 5})
        for (int64_t T : {1, 2, 3, 7, 40, 1000}) {
          CAPTURE(type);
          CAPTURE(r);
          CAPTURE(W);
          CAPTURE(T);
          const double base = 0.02;
          const LrSchedule s(sched(type, W, r), base);
          if (T > W) CHECK(s.lr(T - 1, T) == base * r);  // the last update, to the bit
          if (T > W + 1) CHECK(s.lr(W, T) == doctest::Approx(base));  // the first after warmup
          for (int64_t i = 0; i < T; ++i)
            CHECK(s.lr(i, T) == doctest::Approx(expected_lr(type, base, r, W, T, i)).epsilon(1e-14));
        }
}

TEST_CASE("warmup then cosine: the warmup ramp is unchanged, the decay starts at the full lr") {
  const LrSchedule s(sched("cosine", 4, 0.0), 1.0);
  const int64_t T = 9;  // updates 0..3 warm up, 4..8 decay: p = 0, 1/4, 1/2, 3/4, 1
  const double want[] = {0.25, 0.5, 0.75, 1.0, 1.0, 0.5 * (1 + std::cos(std::numbers::pi / 4)), 0.5,
                         0.5 * (1 + std::cos(3 * std::numbers::pi / 4)), 0.0};
  for (int64_t i = 0; i < T; ++i) {
    CAPTURE(i);
    CHECK(s.lr(i, T) == doctest::Approx(want[i]).epsilon(1e-15));
  }
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
