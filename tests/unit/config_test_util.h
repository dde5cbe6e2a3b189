// config_test_util.h: helpers shared by the config unit tests: load a spec from text and capture
// the ConfigError message of a spec that must fail.
#pragma once
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "config/spec_loader.h"
#include "core/error.h"

namespace mp::test {

// The smallest valid spec; tests append keys to it.
inline const char* const kMinimal = "data: {file: d.h5}\nmodel:\n  layers: [relu]\n";

inline RunSpec load_text(const std::string& text, const std::vector<std::string>& sets = {}) {
  return load_spec_from_string(text, "t.yaml", sets);
}

// The message of the ConfigError loading `text` throws; fails the test when it loads or throws
// anything else.
inline std::string error_of(const std::string& text, const std::vector<std::string>& sets = {}) {
  try {
    load_spec_from_string(text, "t.yaml", sets);
  } catch (const ConfigError& e) {
    return e.what();
  }
  FAIL_CHECK("expected a ConfigError for:\n" << text);
  return "";
}

}  // namespace mp::test
