// yaml_scalar.cpp: strict scalar parsing (std::from_chars on a checked YAML 1.2 spelling).
#include "config/yaml_scalar.h"

#include <charconv>
#include <cmath>
#include <string_view>

#include "config/did_you_mean.h"
#include "config/yaml_text.h"
#include "config/yaml_tree.h"

namespace mp {

namespace {

bool digit(char c) { return c >= '0' && c <= '9'; }

// [-+]?[0-9]+
bool int_spelling(std::string_view s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i)
    if (!digit(s[i])) return false;
  return true;
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool float_spelling(std::string_view s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && digit(s[i])) ++i, ++int_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && digit(s[i])) ++i, ++frac_digits;
  }
  if (int_digits + frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exp_digits = 0;
    while (i < s.size() && digit(s[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  return i == s.size();
}

bool non_finite_spelling(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  std::string low;
  for (char c : s) low += static_cast<char>(c | 0x20);
  return low == ".inf" || low == ".nan" || low == "inf" || low == "nan" || low == "infinity";
}

std::string_view strip_plus(std::string_view s) {
  return (!s.empty() && s[0] == '+') ? s.substr(1) : s;
}

std::string got(const YAML::Node& n) { return ", got " + describe_got(n); }

// Common checks before a number is parsed: a plain scalar. Returns an error or nullopt.
ReadError need_plain_scalar(const YAML::Node& n, const std::string& expected) {
  if (!n.IsScalar()) return "expected " + expected + got(n);
  if (n.Tag() == "!")
    return "expected " + expected + got(n) + " (a quoted string; write it without quotes)";
  if (!is_plain_scalar(n)) return "expected " + expected + got(n) + " (tagged " + quote_for_message(n.Tag()) + ")";
  return std::nullopt;
}

// Parses a float spelling into `v`; on failure returns the hint for the message.
std::optional<std::string> parse_float(std::string_view s, double& v) {
  if (non_finite_spelling(s)) return " (must be a finite number)";
  if (!float_spelling(s)) return std::string();
  const std::string_view t = strip_plus(s);
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec == std::errc::result_out_of_range) return " (out of the range of a 64-bit float)";
  if (ec != std::errc() || end != t.data() + t.size()) return std::string();
  if (!std::isfinite(v)) return " (must be a finite number)";
  return std::nullopt;
}

}  // namespace

ReadError read_int(const YAML::Node& n, const Rule& r, int64_t& out) {
  const std::string expected = describe_number(r, true);
  if (auto e = need_plain_scalar(n, expected)) return e;
  const std::string& s = n.Scalar();
  const std::string prefix = "expected " + expected + got(n);
  int64_t v = 0;
  if (int_spelling(s)) {
    const std::string_view t = strip_plus(s);
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec == std::errc::result_out_of_range) return prefix + " (beyond the 64-bit integer range)";
    if (ec != std::errc() || end != t.data() + t.size()) return prefix;
  } else {
    double d = 0;
    if (auto hint = parse_float(s, d)) return prefix + *hint;
    if (d != std::trunc(d)) return prefix + " (not a whole number)";
    if (std::fabs(d) > 9007199254740992.0)  // 2^53: beyond it a float literal is not exact
      return prefix + " (too large; write large integers without an exponent)";
    v = static_cast<int64_t>(d);
  }
  if (!r.number_ok(static_cast<double>(v))) return prefix;
  out = v;
  return std::nullopt;
}

ReadError read_number(const YAML::Node& n, const Rule& r, double& out) {
  const std::string expected = describe_number(r, false);
  if (auto e = need_plain_scalar(n, expected)) return e;
  double v = 0;
  const std::string prefix = "expected " + expected + got(n);
  if (auto hint = parse_float(n.Scalar(), v)) return prefix + *hint;
  if (!r.number_ok(v)) return prefix;
  out = v;
  return std::nullopt;
}

ReadError read_bool(const YAML::Node& n, bool& out) {
  if (auto e = need_plain_scalar(n, "true or false")) return e;
  const std::string& s = n.Scalar();
  if (s == "true" || s == "True" || s == "TRUE") out = true;
  else if (s == "false" || s == "False" || s == "FALSE") out = false;
  else return "expected true or false" + got(n);
  return std::nullopt;
}

ReadError read_string(const YAML::Node& n, const Rule& r, std::string& out) {
  const std::string expected = !r.choices.empty() ? describe_choices(r)
                               : r.identifier     ? "a name of letters, digits, '_', '.' and '-'"
                               : r.non_empty      ? "a non-empty string"
                                                  : "a string";
  if (!n.IsScalar()) return "expected " + expected + got(n);
  const std::string& s = n.Scalar();
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return "expected " + expected + got(n) + " (control characters are not allowed)";
  if (!r.choices.empty() && !r.choice_ok(s))
    return "expected " + expected + got(n) + did_you_mean(s, r.choices);
  if (r.identifier && !is_identifier(s)) return "expected " + expected + got(n);
  if (r.non_empty && s.empty()) return "expected " + expected + got(n);
  out = s;
  return std::nullopt;
}

}  // namespace mp
