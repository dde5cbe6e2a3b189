// spec_origins.h: where each key of a run spec came from (FILE:LINE:COL in the spec file, or the
// --set KEY that replaced it) and the one way config errors are raised:
//   "WHERE: KEY.PATH: expected ..., got ... (hint)"  as mp::ConfigError (exit 2).
#pragma once
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/mark.h>

namespace mp {

class SpecOrigins {
 public:
  explicit SpecOrigins(std::string source) : source_(std::move(source)) {}

  const std::string& source() const { return source_; }

  // `path` (and everything under it) was set by `--set path=...`.
  void add_override(const std::string& path) { overrides_.push_back(path); }
  // The value (or section) at `path` is written at `m` in the spec file.
  void record(const std::string& path, const YAML::Mark& m);

  // "--set KEY" when an override covers `path`, else "FILE:LINE:COL" from `m` (or, when `m` is
  // null, from the mark recorded for `path` or its nearest recorded parent), else "FILE".
  std::string where(std::string_view path, const YAML::Mark& m) const;
  std::string where(std::string_view path) const { return where(path, YAML::Mark::null_mark()); }

  // Throws ConfigError("WHERE: PATH: msg"); PATH is left out when empty.
  [[noreturn]] void fail(std::string_view path, const YAML::Mark& m, std::string_view msg) const;
  [[noreturn]] void fail(std::string_view path, std::string_view msg) const {
    fail(path, YAML::Mark::null_mark(), msg);
  }

 private:
  const std::string* override_covering(std::string_view path) const;

  std::string source_;
  std::vector<std::string> overrides_;
  std::map<std::string, YAML::Mark, std::less<>> marks_;
};

// "FILE:LINE:COL" (1-based) for a yaml-cpp mark; "FILE" when the mark is null.
std::string format_mark(const std::string& file, const YAML::Mark& m);

}  // namespace mp
