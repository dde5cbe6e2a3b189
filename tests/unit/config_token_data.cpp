// config_token_data.cpp: the data.format / data.context keys — tokens need a context, fill an
// empty model.input_shape with [context], refuse another shape or an input scale (exit 2), and
// samples refuse a context.
#include <doctest/doctest.h>

#include "config_test_util.h"

using namespace mp;
using mp::test::error_of;
using mp::test::load_text;

namespace {
const std::string kTokens =
    "data: {file: d.h5, format: tokens, train: {x: /train/tokens}, val: {x: /val/tokens, y: \"\"}}\n"
    "model:\n  layers: [relu]\n";
}

TEST_CASE("data.format tokens: defaults, context and the model's input shape") {
  const RunSpec plain = load_text(mp::test::kMinimal);
  CHECK(plain.data.format == "samples");
  CHECK(plain.data.context == 0);

  const RunSpec s = load_text(kTokens, {"data.context=32"});
  CHECK(s.data.format == "tokens");
  CHECK(s.data.context == 32);
  CHECK(s.model.input_shape == std::vector<int64_t>{32});  // [] becomes [context]
  CHECK(load_text(kTokens, {"data.context=32", "model.input_shape=[32]"}).model.input_shape ==
        std::vector<int64_t>{32});
}

TEST_CASE("data.format tokens: the errors are ConfigErrors naming the key") {
  CHECK(error_of(kTokens).find("data.context: expected the window length (>= 1 tokens) with "
                               "data.format: tokens, got 0") != std::string::npos);
  const std::string shape = error_of(kTokens, {"data.context=32", "model.input_shape=[16]"});
  CHECK(shape.find("model.input_shape: expected [32]") != std::string::npos);
  CHECK(shape.find("got [16]") != std::string::npos);
  CHECK(error_of(kTokens, {"data.context=8", "data.input_scale=0.5"})
            .find("data.input_scale: expected 1 with data.format: tokens") != std::string::npos);
  CHECK(error_of(mp::test::kMinimal, {"data.context=8"})
            .find("data.context: expected 0 (unset) with data.format: samples, got 8") != std::string::npos);
  CHECK(error_of(mp::test::kMinimal, {"data.format=words"}).find("data.format") != std::string::npos);
  CHECK(error_of(kTokens, {"data.context=-1"}).find("data.context") != std::string::npos);
}
