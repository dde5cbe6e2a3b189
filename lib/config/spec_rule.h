// spec_rule.h: the constraint attached to one run-spec key or layer parameter (required, numeric
// range, allowed choices, name pattern), the check:: shorthands the schema is written with, and
// how a rule reads in messages and in configs/REFERENCE.md ("an integer >= 1", "fp32|fp16|bf16").
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "nn/layer_spec.h"

namespace mp {

struct Rule {
  bool required = false;   // the key must be given (and be non-empty)
  bool non_empty = false;  // a string or list that must not be empty
  bool has_lo = false, lo_open = false;
  double lo = 0;
  bool has_hi = false, hi_open = false;
  double hi = 0;
  std::vector<std::string> choices;  // strings: the allowed values
  bool identifier = false;           // strings: [A-Za-z0-9_.-]+

  bool number_ok(double v) const;
  bool choice_ok(std::string_view s) const;
};

namespace check {
Rule none();
Rule required();                     // must be given, non-empty
Rule non_empty();                    // has a default, but may not be set to "" / []
Rule at_least(double lo);            // >= lo
Rule greater_than(double lo);        // > lo
Rule positive();                     // > 0
Rule non_negative();                 // >= 0
Rule range(double lo, bool lo_open, double hi, bool hi_open);
Rule one_of(std::vector<std::string> choices);
Rule identifier();                   // [A-Za-z0-9_.-]+
}  // namespace check

// The rule a layer parameter of the catalog implies (bounds, choices).
Rule rule_for(const ParamDesc& p);

// "an integer >= 1", "a number in (0, 1)", "a positive number", "a number".
std::string describe_number(const Rule& r, bool integer);
// "one of fp32|fp16|bf16".
std::string describe_choices(const Rule& r);
// The "allowed" column of the reference: ">= 1", "(0, 1)", "fp32 | fp16 | bf16", "[A-Za-z0-9_.-]+".
std::string describe_allowed(const Rule& r);

// True for names made of [A-Za-z0-9_.-] only (and non-empty).
bool is_identifier(std::string_view s);

}  // namespace mp
