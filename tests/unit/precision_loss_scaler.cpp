// precision_loss_scaler.cpp: the dynamic / static / none loss-scale update rules, the
// consecutive-skip stop, and state round trips (cases after PyTorch's GradScaler tests).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"
#include "precision/loss_scaler.h"

using namespace mp;

namespace {

LossScaleSpec small_spec() {
  LossScaleSpec s;
  s.init = 4.0;
  s.growth_factor = 2.0;
  s.backoff_factor = 0.25;
  s.growth_interval = 2;
  s.hysteresis = 1;
  s.min_scale = 1.0 / 1024;
  return s;
}

}  // namespace

TEST_CASE("dynamic: PyTorch GradScaler update rule (growth 2, backoff 0.25, interval 2)") {
  LossScaler sc(LossScaleMode::Dynamic, small_spec());
  CHECK(sc.scale() == 4.0);
  CHECK(sc.inv_scale() == 0.25);
  sc.update(false);
  CHECK(sc.state().growth_tracker == 1);
  CHECK(sc.scale() == 4.0);
  sc.update(false);
  CHECK(sc.state().growth_tracker == 0);
  CHECK(sc.scale() == 8.0);
  sc.update(true);
  CHECK(sc.state().growth_tracker == 0);
  CHECK(sc.scale() == 2.0);
  // An overflow resets a partly counted interval: clean, overflow, clean, clean grows only at end.
  sc.update(false);
  CHECK(sc.state().growth_tracker == 1);
  sc.update(true);
  CHECK(sc.scale() == 0.5);
  CHECK(sc.state().growth_tracker == 0);
  sc.update(false);
  CHECK(sc.scale() == 0.5);
  sc.update(false);
  CHECK(sc.scale() == 1.0);
}

TEST_CASE("dynamic: PyTorch defaults when the spec is untouched") {
  LossScaler sc(LossScaleMode::Dynamic, LossScaleSpec{});
  CHECK(sc.scale() == 65536.0);
  for (int i = 0; i < 1999; ++i) sc.update(false);
  CHECK(sc.scale() == 65536.0);
  sc.update(false);
  CHECK(sc.scale() == 131072.0);
  sc.update(true);
  CHECK(sc.scale() == 65536.0);
}

TEST_CASE("dynamic: hysteresis 2 backs off on the second overflow, refills only on growth") {
  LossScaleSpec s = small_spec();
  s.hysteresis = 2;
  s.growth_interval = 3;
  LossScaler sc(LossScaleMode::Dynamic, s);
  CHECK(sc.state().hysteresis_tracker == 2);
  sc.update(true);
  CHECK(sc.scale() == 4.0);
  CHECK(sc.state().hysteresis_tracker == 1);
  sc.update(true);
  CHECK(sc.scale() == 1.0);
  CHECK(sc.state().hysteresis_tracker == 0);
  // Not refilled by the backoff: the next overflow backs off again at once.
  sc.update(true);
  CHECK(sc.scale() == 0.25);
  CHECK(sc.state().hysteresis_tracker == 0);
  // Clean steps short of the interval do not refill either.
  sc.update(false);
  sc.update(false);
  CHECK(sc.state().hysteresis_tracker == 0);
  sc.update(true);
  CHECK(sc.scale() == 0.0625);
  // A full interval of clean steps grows and refills.
  for (int i = 0; i < 3; ++i) sc.update(false);
  CHECK(sc.scale() == 0.125);
  CHECK(sc.state().hysteresis_tracker == 2);
  sc.update(true);
  CHECK(sc.scale() == 0.125);
  CHECK(sc.state().hysteresis_tracker == 1);
}

TEST_CASE("dynamic: backoff never goes below min_scale") {
  LossScaleSpec s = small_spec();
  s.min_scale = 1.5;
  LossScaler sc(LossScaleMode::Dynamic, s);
  sc.update(true);
  CHECK(sc.scale() == 1.5);  // 4 * 0.25 = 1 < 1.5
  sc.update(true);
  CHECK(sc.scale() == 1.5);
}

TEST_CASE("dynamic: growth never reaches infinity (init 1e38, growth 16)") {
  LossScaleSpec s;
  s.init = 1e38;
  s.growth_factor = 16.0;
  s.growth_interval = 1;
  LossScaler sc(LossScaleMode::Dynamic, s);
  for (int i = 0; i < 5; ++i) {
    sc.update(false);
    CHECK(sc.scale() == 1e38);
    CHECK(std::isfinite(static_cast<float>(sc.scale())));
  }
  // Just below the limit it still grows: 1e37 * 16 = 1.6e38 < FLT_MAX.
  s.init = 1e37;
  LossScaler sc2(LossScaleMode::Dynamic, s);
  sc2.update(false);
  CHECK(sc2.scale() == 1.6e38);
  sc2.update(false);
  CHECK(sc2.scale() == 1.6e38);
}

TEST_CASE("static and none modes never change the scale, but count skips") {
  LossScaleSpec s;
  s.value = 128.0;
  LossScaler st(LossScaleMode::Static, s);
  LossScaler none(LossScaleMode::None, s);
  CHECK(st.scale() == 128.0);
  CHECK(st.inv_scale() == 1.0 / 128.0);
  CHECK(none.scale() == 1.0);
  for (bool inf : {false, true, false, false, true, true}) {
    st.update(inf);
    none.update(inf);
    CHECK(st.scale() == 128.0);
    CHECK(none.scale() == 1.0);
  }
  CHECK(st.total_skips() == 3);
  CHECK(st.consecutive_skips() == 2);
  CHECK(none.total_skips() == 3);
}

TEST_CASE("total and consecutive skip counts") {
  LossScaler sc(LossScaleMode::Dynamic, small_spec());
  sc.update(true);
  sc.update(true);
  CHECK(sc.consecutive_skips() == 2);
  CHECK(sc.total_skips() == 2);
  sc.update(false);
  CHECK(sc.consecutive_skips() == 0);
  CHECK(sc.total_skips() == 2);
  sc.update(true);
  CHECK(sc.consecutive_skips() == 1);
  CHECK(sc.total_skips() == 3);
}

TEST_CASE("max_consecutive_skips stops the run with NumericalError and a hint") {
  for (LossScaleMode mode : {LossScaleMode::Dynamic, LossScaleMode::Static, LossScaleMode::None}) {
    LossScaleSpec s = small_spec();
    s.max_consecutive_skips = 3;
    LossScaler sc(mode, s);
    sc.update(true);
    sc.update(true);
    sc.update(false);  // the run of overflows is broken: counting starts again
    sc.update(true);
    sc.update(true);
    bool thrown = false;
    try {
      sc.update(true);
    } catch (const NumericalError& e) {
      thrown = true;
      const std::string msg = e.what();
      CHECK(e.exit_code() == 4);
      CHECK(msg.find("3 consecutive optimizer steps had inf/NaN gradients") != std::string::npos);
      CHECK(msg.find("current scale") != std::string::npos);
      CHECK(msg.find("precision.policy: bf16") != std::string::npos);
      CHECK(msg.find("optimizer.lr") != std::string::npos);
      CHECK(msg.find("precision.loss_scale.hysteresis") != std::string::npos);
      CHECK(msg.find("static") != std::string::npos);
      CHECK(msg.find("grad_clip_norm") != std::string::npos);
    }
    CHECK(thrown);
    CHECK(sc.total_skips() == 5);
  }
}

TEST_CASE("the scale reported in the stop message is the current (backed-off) scale") {
  LossScaleSpec s = small_spec();
  s.max_consecutive_skips = 2;
  LossScaler sc(LossScaleMode::Dynamic, s);
  sc.update(true);
  try {
    sc.update(true);
    FAIL("expected NumericalError");
  } catch (const NumericalError& e) {
    CHECK(std::string(e.what()).find("current scale 0.25") != std::string::npos);
  }
}

TEST_CASE("state round trip continues identically") {
  LossScaleSpec s = small_spec();
  s.hysteresis = 2;
  s.growth_interval = 3;
  const bool pattern[] = {false, true, false, false, true, true, false, false, false,
                          false, true, false, false, false, true, false};
  LossScaler a(LossScaleMode::Dynamic, s);
  for (int i = 0; i < 7; ++i) a.update(pattern[i]);
  const LossScalerState saved = a.state();
  LossScaler b(LossScaleMode::Dynamic, s);
  b.set_state(saved);
  for (int i = 7; i < 16; ++i) {
    a.update(pattern[i]);
    b.update(pattern[i]);
    CHECK(a.scale() == b.scale());
    CHECK(a.state().growth_tracker == b.state().growth_tracker);
    CHECK(a.state().hysteresis_tracker == b.state().hysteresis_tracker);
    CHECK(a.state().consecutive_skips == b.state().consecutive_skips);
    CHECK(a.state().total_skips == b.state().total_skips);
  }
}

TEST_CASE("set_state rejects impossible values and clamps trackers to a changed config") {
  LossScaler sc(LossScaleMode::Dynamic, small_spec());
  LossScalerState bad;
  bad.scale = -1.0;
  CHECK_THROWS_AS(sc.set_state(bad), DataError);
  bad.scale = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(sc.set_state(bad), DataError);
  bad.scale = 8.0;
  bad.growth_tracker = -2;
  CHECK_THROWS_AS(sc.set_state(bad), DataError);
  LossScalerState wide;
  wide.scale = 8.0;
  wide.growth_tracker = 10;     // interval is 2 here
  wide.hysteresis_tracker = 5;  // hysteresis is 1 here
  sc.set_state(wide);
  CHECK(sc.scale() == 8.0);
  CHECK(sc.state().growth_tracker == 1);
  CHECK(sc.state().hysteresis_tracker == 1);
  sc.update(false);
  CHECK(sc.scale() == 16.0);

  LossScaleSpec st;
  st.value = 32.0;
  LossScaler fixed(LossScaleMode::Static, st);
  LossScalerState from_ckpt;
  from_ckpt.scale = 1024.0;
  from_ckpt.total_skips = 7;
  fixed.set_state(from_ckpt);
  CHECK(fixed.scale() == 32.0);
  CHECK(fixed.total_skips() == 7);
}

TEST_CASE("an unvalidated spec is an internal error: the scaler asserts, the schema validates") {
  // The user-facing check (ConfigError naming the key) is the schema's: config_loader.cpp
  // "loss-scale ranges are validated by the schema, naming the key".
  LossScaleSpec s;
  s.growth_factor = 1.0;
  CHECK_THROWS_WITH_AS(LossScaler(LossScaleMode::Dynamic, s),
                       doctest::Contains("precision.loss_scale.growth_factor"), InternalError);
  s = LossScaleSpec{};
  s.init = 1e39;
  CHECK_THROWS_AS(LossScaler(LossScaleMode::Dynamic, s), InternalError);
  s = LossScaleSpec{};
  s.value = 0.0;
  CHECK_THROWS_AS(LossScaler(LossScaleMode::Static, s), InternalError);
  CHECK_NOTHROW(LossScaler(LossScaleMode::Dynamic, s));  // static value unused in dynamic mode
}
