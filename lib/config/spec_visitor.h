// spec_visitor.h: the visitor the run-spec schema is written against. The schema
// (spec_schema.cpp) calls bind() once per key with the key's dotted path, the RunSpec member it
// fills, its rule and its doc; loading, dumping, listing keys, placeholders and the reference are
// all visitors over that one table, so a key exists in exactly one place.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/spec_rule.h"
#include "nn/layer_spec.h"

namespace mp {

// The RunSpec member a key fills; one alternative per kind of value a spec holds.
using FieldRef = std::variant<int64_t*, double*, bool*, std::string*, std::vector<int64_t>*,
                              std::vector<std::string>*, std::vector<LayerSpec>*>;

struct FieldDef {
  std::string_view path;  // "precision.loss_scale.growth_factor"
  Rule rule;
  std::string_view doc;
};

class SpecVisitor {
 public:
  virtual ~SpecVisitor() = default;
  // A section (a map of keys) with its doc; called before the first key inside it.
  virtual void section(std::string_view path, std::string_view doc) = 0;
  virtual void field(const FieldDef& def, FieldRef ref) = 0;
};

template <class T>
void bind(SpecVisitor& v, std::string_view path, T& value, Rule rule, std::string_view doc) {
  v.field(FieldDef{path, std::move(rule), doc}, FieldRef(&value));
}

inline void section(SpecVisitor& v, std::string_view path, std::string_view doc) {
  v.section(path, doc);
}

// "integer", "number", "bool", "string", "list of integers", "list of strings", "list of layers".
std::string_view field_type_name(const FieldRef& ref);

}  // namespace mp
