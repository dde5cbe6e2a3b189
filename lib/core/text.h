// text.h: numbers as text for messages, logs and reports (header-only; used from config to sweep).
#pragma once
#include <cstdio>
#include <sstream>
#include <string>

namespace mp {

// `v` as an ostream prints it by default (6 significant digits): "0.001", "1e+30", "65536".
inline std::string num_text(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// `v` through one printf conversion `f` ("%.4g", "%.1f KiB", "%3.0f%%").
inline std::string printf_text(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace mp
