// yaml_input.cpp: file checks, text checks and the yaml-cpp parse.
#include "config/yaml_input.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include "config/spec_origins.h"
#include "config/yaml_text.h"
#include "config/yaml_tree.h"
#include "core/error.h"

namespace mp {

namespace {

[[noreturn]] void fail_at(const std::string& source, int line, int col, const std::string& msg) {
  YAML::Mark m;
  m.line = line;
  m.column = col;
  throw ConfigError(format_mark(source, m) + ": " + msg);
}

std::string hex_byte(unsigned char b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", b);
  return buf;
}

// Length of the UTF-8 sequence starting at s[i], or 0 when it is not valid UTF-8 (overlong forms,
// surrogates and code points above U+10FFFF included).
size_t utf8_length(const std::string& s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) n = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) n = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) n = 4, cp = c & 0x07;
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

// Rejects bytes that cannot be in a YAML text file: NUL and other control characters, and
// invalid UTF-8, naming the first one's line and column.
void check_text(const std::string& text, const std::string& source) {
  int line = 0, col = 0;
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++line, col = 0, ++i;
      continue;
    }
    if (c == 0)
      fail_at(source, line, col,
              "found a NUL byte: this is a binary file, not a YAML run spec");
    if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
      fail_at(source, line, col,
              "found the control byte " + hex_byte(c) + "; a run spec is plain UTF-8 text");
    const size_t n = utf8_length(text, i);
    if (n == 0)
      fail_at(source, line, col,
              "invalid UTF-8 (byte " + hex_byte(c) + "); a run spec is plain UTF-8 text");
    i += n;
    ++col;
  }
}

// Records where each document starts; ignores the content.
struct DocumentStarts : YAML::EventHandler {
  std::vector<YAML::Mark> starts;
  void OnDocumentStart(const YAML::Mark& m) override { starts.push_back(m); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// Rejects a second document ('---'). Reads at most two documents, never YAML::LoadAll: on a
// stray ',' yaml-cpp 0.7 returns the same empty document forever without advancing
// (jbeder/yaml-cpp#1040), so LoadAll loops until memory runs out. A document starting where the
// previous one did is that case, reported as a syntax error.
void check_single_document(const std::string& text, const std::string& source) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts docs;
  for (int i = 0; i < 2 && parser.HandleNextDocument(docs); ++i) {
  }
  if (docs.starts.size() < 2) return;
  const YAML::Mark& first = docs.starts[0];
  const YAML::Mark& second = docs.starts[1];
  if (second.pos == first.pos) {
    const auto pos = static_cast<size_t>(second.pos);
    const std::string what = pos < text.size() ? quote_for_message(text.substr(pos, 1)) : "text";
    throw ConfigError(format_mark(source, second) + ": invalid YAML: unexpected " + what +
                      " (a ',' outside [ ] or { }?)");
  }
  throw ConfigError(format_mark(source, second) +
                    ": a second YAML document ('---'); a run spec is one document");
}

}  // namespace

std::string read_spec_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    const std::string why = ec ? ec.message() : "No such file or directory";
    throw ConfigError(path + ": cannot read the spec: " + why);
  }
  if (fs::is_directory(st)) throw ConfigError(path + ": is a directory, expected a YAML file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot read the spec: " + std::strerror(errno));
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxSpecBytes)
      throw ConfigError(path + ": is larger than " + std::to_string(kMaxSpecBytes >> 20) +
                        " MiB; a run spec is a small YAML file");
  }
  if (in.bad()) throw ConfigError(path + ": cannot read the spec: read error");
  return text;
}

YAML::Node parse_spec_text(const std::string& text, const std::string& source) {
  if (text.size() > kMaxSpecBytes)
    throw ConfigError(source + ": is larger than " + std::to_string(kMaxSpecBytes >> 20) +
                      " MiB; a run spec is a small YAML file");
  check_text(text, source);
  YAML::Node root;
  try {
    check_single_document(text, source);
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(format_mark(source, e.mark) + ": invalid YAML: " + e.msg);
  }
  if (root.IsNull())
    throw ConfigError(source +
                      ": the spec is empty; it needs at least data.file and model.layers "
                      "(see configs/mnist_mlp.yaml)");
  if (!root.IsMap())
    throw ConfigError(format_mark(source, root.Mark()) +
                      ": expected a map of keys (name:, data:, model:, ...) at the top level, got " +
                      describe_got(root));
  return root;
}

}  // namespace mp
