// yaml_text.cpp: number formatting and string quoting for the resolved-spec dump and messages.
#include "config/yaml_text.h"

#include <array>
#include <charconv>
#include <cstdio>

namespace mp {

std::string yaml_number(double v) {
  std::array<char, 64> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  if (ec != std::errc()) return "0";  // cannot happen: 64 bytes hold any double
  return std::string(buf.data(), end);
}

namespace {

bool plain_char(char c, bool first) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '/') return true;
  if (first) return false;  // digits, '.', '-', '+' first could read as a number or an indicator
  return (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+';
}

// Words YAML 1.1 or 1.2 readers take for booleans or null: always quoted for other readers' sake.
bool reserved_word(std::string_view s) {
  static const char* const kWords[] = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"};
  for (const char* w : kWords) {
    std::string_view ws(w);
    if (ws.size() != s.size()) continue;
    bool eq = true;
    for (size_t i = 0; i < s.size() && eq; ++i)
      eq = (s[i] | 0x20) == ws[i];
    if (eq) return true;
  }
  return false;
}

void append_escaped(std::string& out, std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02x", u);
      out += esc;
    } else {
      out += c;
    }
  }
}

}  // namespace

std::string yaml_string(std::string_view s) {
  bool plain = !s.empty() && !reserved_word(s);
  for (size_t i = 0; i < s.size() && plain; ++i) plain = plain_char(s[i], i == 0);
  if (plain) return std::string(s);
  std::string out = "\"";
  append_escaped(out, s);
  out += '"';
  return out;
}

std::string quote_for_message(std::string_view s) {
  size_t cut = s.size();
  if (cut > 60) {  // cut at 60 bytes, backing off to the start of a UTF-8 character
    cut = 60;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  }
  std::string out = "\"";
  append_escaped(out, s.substr(0, cut));
  if (cut < s.size()) out += "...";
  out += '"';
  return out;
}

}  // namespace mp
