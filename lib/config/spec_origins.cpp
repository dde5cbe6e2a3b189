// spec_origins.cpp: error locations for run-spec keys.
#include "config/spec_origins.h"

#include "core/error.h"

namespace mp {

std::string format_mark(const std::string& file, const YAML::Mark& m) {
  if (m.is_null() || m.line < 0 || m.column < 0) return file;
  return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

void SpecOrigins::record(const std::string& path, const YAML::Mark& m) {
  if (!m.is_null()) marks_[path] = m;
}

const std::string* SpecOrigins::override_covering(std::string_view path) const {
  const std::string* best = nullptr;
  for (const auto& o : overrides_) {
    const bool covers = path == o || (path.size() > o.size() && path.compare(0, o.size(), o) == 0 &&
                                      path[o.size()] == '.');
    if (covers && (!best || o.size() >= best->size())) best = &o;
  }
  return best;
}

std::string SpecOrigins::where(std::string_view path, const YAML::Mark& m) const {
  if (const std::string* o = override_covering(path)) return "--set " + *o;
  if (!m.is_null()) return format_mark(source_, m);
  std::string p(path);
  while (true) {
    auto it = marks_.find(p);
    if (it != marks_.end()) return format_mark(source_, it->second);
    const auto dot = p.rfind('.');
    if (dot == std::string::npos) break;
    p.resize(dot);
  }
  return source_;
}

void SpecOrigins::fail(std::string_view path, const YAML::Mark& m, std::string_view msg) const {
  const std::string w = where(path, m);
  std::string text = w + ": ";
  // "--set optimizer.lr: optimizer.lr: ..." says the key twice; once is enough.
  if (!path.empty() && w != "--set " + std::string(path)) text += std::string(path) + ": ";
  text += msg;
  throw ConfigError(text);
}

}  // namespace mp
