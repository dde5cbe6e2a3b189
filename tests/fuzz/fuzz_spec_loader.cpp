// fuzz_spec_loader.cpp: libFuzzer target for the run-spec loader. The input is a spec file; its
// leading lines of the form "#set KEY=VALUE" (YAML comments) are also passed as --set overrides.
// Properties: loading only ever throws mp::ConfigError; a spec that loads dumps to text that
// loads again and dumps identically; its output.dir expands. Anything else aborts (a finding).
// Built by scripts/fuzz_spec.sh (clang, -fsanitize=fuzzer,address,undefined); replay_main.cpp runs
// the same function over the seed corpus in the normal test suite.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "config/output_dir.h"
#include "config/spec_dump.h"
#include "config/spec_loader.h"
#include "core/error.h"

namespace {

[[noreturn]] void finding(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_spec_loader: %s\n%s\n", what, detail.c_str());
  std::abort();
}

std::vector<std::string> leading_overrides(const std::string& text) {
  std::vector<std::string> sets;
  size_t pos = 0;
  while (text.compare(pos, 5, "#set ") == 0 && sets.size() < 8) {
    const size_t end = text.find('\n', pos);
    sets.push_back(text.substr(pos + 5, end == std::string::npos ? std::string::npos : end - pos - 5));
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return sets;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  mp::RunSpec spec;
  try {
    spec = mp::load_spec_from_string(text, "fuzz.yaml", leading_overrides(text));
  } catch (const mp::ConfigError&) {
    return 0;  // the expected way to refuse an input
  }
  const std::string once = mp::dump_spec(spec);
  std::string twice;
  try {
    twice = mp::dump_spec(mp::load_spec_from_string(once, "dump.yaml"));
  } catch (const mp::ConfigError& e) {
    finding("the dump of a loaded spec does not load", std::string(e.what()) + "\n" + once);
  }
  if (once != twice) finding("dump(load(dump(spec))) differs from dump(spec)", once + "\n---\n" + twice);
  try {
    (void)mp::expand_output_dir(spec);
  } catch (const mp::ConfigError& e) {
    finding("output.dir of a loaded spec does not expand", e.what());
  }
  return 0;
}
