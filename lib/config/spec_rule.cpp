// spec_rule.cpp: rule shorthands, checks and their wording.
#include "config/spec_rule.h"

#include "config/did_you_mean.h"
#include "config/yaml_text.h"

namespace mp {

bool Rule::number_ok(double v) const {
  if (has_lo && (lo_open ? !(v > lo) : !(v >= lo))) return false;
  if (has_hi && (hi_open ? !(v < hi) : !(v <= hi))) return false;
  return true;
}

bool Rule::choice_ok(std::string_view s) const {
  if (choices.empty()) return true;
  for (const auto& c : choices)
    if (c == s) return true;
  return false;
}

namespace check {
Rule none() { return Rule{}; }
Rule required() {
  Rule r;
  r.required = r.non_empty = true;
  return r;
}
Rule non_empty() {
  Rule r;
  r.non_empty = true;
  return r;
}
Rule at_least(double lo) {
  Rule r;
  r.has_lo = true;
  r.lo = lo;
  return r;
}
Rule greater_than(double lo) {
  Rule r = at_least(lo);
  r.lo_open = true;
  return r;
}
Rule positive() { return greater_than(0); }
Rule non_negative() { return at_least(0); }
Rule range(double lo, bool lo_open, double hi, bool hi_open) {
  Rule r = at_least(lo);
  r.lo_open = lo_open;
  r.has_hi = true;
  r.hi = hi;
  r.hi_open = hi_open;
  return r;
}
Rule one_of(std::vector<std::string> choices) {
  Rule r;
  r.choices = std::move(choices);
  return r;
}
Rule identifier() {
  Rule r;
  r.identifier = r.non_empty = true;
  return r;
}
}  // namespace check

Rule rule_for(const ParamDesc& p) {
  Rule r;
  if (p.kind == ParamKind::Int || p.kind == ParamKind::Float) {
    r.has_lo = p.min > -1e300;
    r.lo = p.min;
    r.has_hi = p.max < 1e300;
    r.hi = p.max;
    r.hi_open = p.max_exclusive;
  }
  if (p.kind == ParamKind::Choice) r.choices = p.choices;
  return r;
}

std::string describe_number(const Rule& r, bool integer) {
  const std::string noun = integer ? "integer" : "number";
  const std::string a = integer ? "an " : "a ";
  if (r.has_lo && r.has_hi)
    return a + noun + " in " + (r.lo_open ? "(" : "[") + yaml_number(r.lo) + ", " +
           yaml_number(r.hi) + (r.hi_open ? ")" : "]");
  if (r.has_lo) {
    if (r.lo == 0 && r.lo_open) return "a positive " + noun;
    return a + noun + (r.lo_open ? " > " : " >= ") + yaml_number(r.lo);
  }
  if (r.has_hi) return a + noun + (r.hi_open ? " < " : " <= ") + yaml_number(r.hi);
  return a + noun;
}

std::string describe_choices(const Rule& r) { return "one of " + join(r.choices, "|"); }

std::string describe_allowed(const Rule& r) {
  if (!r.choices.empty()) return join(r.choices, " | ");
  if (r.identifier) return "[A-Za-z0-9_.-]+";
  if (r.has_lo && r.has_hi)
    return std::string(r.lo_open ? "(" : "[") + yaml_number(r.lo) + ", " + yaml_number(r.hi) +
           (r.hi_open ? ")" : "]");
  if (r.has_lo) return std::string(r.lo_open ? "> " : ">= ") + yaml_number(r.lo);
  if (r.has_hi) return std::string(r.hi_open ? "< " : "<= ") + yaml_number(r.hi);
  if (r.non_empty) return "non-empty";
  return "";
}

bool is_identifier(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace mp
