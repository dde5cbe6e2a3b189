// env_flag.h: boolean switches read from the environment (MPTRAIN_CUDA_SYNC_CHECK, ...).
// Unset or empty is off; 1/true/on/yes is on and 0/false/off/no is off (ASCII, any case); any
// other value is a ConfigError naming the variable, so that a typo never silently means "off".
// Header-only and CUDA-free; compiled by both g++ and nvcc (C++17).
#pragma once
#include <cstdlib>
#include <string>

#include "core/error.h"

namespace mp {

// The switch `name` given its value (nullptr when unset).
inline bool parse_env_flag(const char* name, const char* value) {
  if (!value) return false;
  std::string v(value);
  for (char& ch : v)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  if (v.empty() || v == "0" || v == "false" || v == "off" || v == "no") return false;
  if (v == "1" || v == "true" || v == "on" || v == "yes") return true;
  throw ConfigError(std::string(name) + "=" + value +
                    ": expected 1 (on) or 0 (off); unset it or set it to 0 to turn it off");
}

inline bool env_flag(const char* name) { return parse_env_flag(name, std::getenv(name)); }

}  // namespace mp
