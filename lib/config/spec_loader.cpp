// spec_loader.cpp: the loading pipeline and the visitor that reads each key of the schema.
#include "config/spec_loader.h"

#include <map>

#include "config/did_you_mean.h"
#include "config/layer_parser.h"
#include "config/spec_keys.h"
#include "config/spec_overrides.h"
#include "config/spec_resolve.h"
#include "config/spec_schema.h"
#include "config/yaml_input.h"
#include "config/yaml_scalar.h"
#include "config/yaml_tree.h"
#include "core/error.h"

namespace mp {

namespace {

// Walks the YAML maps along the schema's sections: rejects unknown keys (did-you-mean against
// the keys of that section) and sections that are not maps, and collects every key given.
class KeyIndex {
 public:
  explicit KeyIndex(SpecOrigins& o) : origins_(o) {}

  void scan(const YAML::Node& map, const std::string& section) {
    const std::vector<std::string> names = spec_children(section);
    for (const auto& e : map_entries(map)) {
      const std::string path = join_path(section, e.key);
      origins_.record(path, e.key_node.Mark());
      if (is_spec_section(path)) {
        if (e.value.IsNull()) continue;  // `debug:` with nothing under it
        if (!e.value.IsMap())
          origins_.fail(path, e.value_mark(),
                        "expected a map of keys (" + join(spec_children(path)) + "), got " +
                            describe_got(e.value));
        scan(e.value, path);
      } else if (find_spec_key(path)) {
        given_.emplace(path, e);
      } else {
        const std::string where = section.empty() ? "at the top level" : "in " + section;
        origins_.fail(path, e.key_node.Mark(),
                      "unknown key" + did_you_mean(e.key, names) + "; valid " + where + ": " +
                          join(names));
      }
    }
  }

  const MapEntry* find(std::string_view path) const {
    auto it = given_.find(path);
    return it == given_.end() ? nullptr : &it->second;
  }

 private:
  SpecOrigins& origins_;
  std::map<std::string, MapEntry, std::less<>> given_;
};

// Reads every key of the schema from the index into the RunSpec; defaults stay where not given.
class Reader : public SpecVisitor {
 public:
  Reader(const KeyIndex& index, SpecOrigins& o) : index_(index), origins_(o) {}

  void section(std::string_view, std::string_view) override {}

  void field(const FieldDef& def, FieldRef ref) override {
    const MapEntry* e = index_.find(def.path);
    if (!e) {
      if (def.rule.required)
        origins_.fail(def.path, "missing required key (" + std::string(def.doc) + ")");
      return;
    }
    origins_.record(std::string(def.path), e->value_mark());
    path_ = def.path;
    entry_ = e;
    rule_ = &def.rule;
    std::visit([this](auto* target) { read(*target); }, ref);
  }

 private:
  void check(const ReadError& err) const {
    if (err) origins_.fail(path_, entry_->value_mark(), *err);
  }
  void read(int64_t& v) { check(read_int(entry_->value, *rule_, v)); }
  void read(double& v) { check(read_number(entry_->value, *rule_, v)); }
  void read(bool& v) { check(read_bool(entry_->value, v)); }
  void read(std::string& v) { check(read_string(entry_->value, *rule_, v)); }
  void read(std::vector<int64_t>& v) { read_list(v, [this](const YAML::Node& n, int64_t& x) {
    return read_int(n, *rule_, x);
  }); }
  void read(std::vector<std::string>& v) {
    Rule item = *rule_;
    item.non_empty = true;
    read_list(v, [&item](const YAML::Node& n, std::string& x) { return read_string(n, item, x); });
  }
  void read(std::vector<LayerSpec>& v) {
    v = parse_layers(entry_->value, path_, entry_->value_mark(), origins_);
  }

  template <class T, class ReadItem>
  void read_list(std::vector<T>& out, ReadItem read_item) {
    const YAML::Node& n = entry_->value;
    if (!n.IsSequence())
      origins_.fail(path_, entry_->value_mark(),
                    "expected a list like [1, 2] (possibly []), got " + describe_got(n));
    std::vector<T> items;
    size_t i = 0;
    for (auto it = n.begin(); it != n.end(); ++it, ++i) {
      T x{};
      if (auto err = read_item(*it, x))
        origins_.fail(join_path(path_, std::to_string(i)), it->Mark(), *err);
      items.push_back(std::move(x));
    }
    if (rule_->non_empty && items.empty())
      origins_.fail(path_, entry_->value_mark(), "expected a non-empty list, got []");
    out = std::move(items);
  }

  const KeyIndex& index_;
  SpecOrigins& origins_;
  std::string path_;
  const MapEntry* entry_ = nullptr;
  const Rule* rule_ = nullptr;
};

RunSpec load_tree(YAML::Node root, const std::string& source,
                  const std::vector<std::string>& overrides) {
  SpecOrigins origins(source);
  check_tree(root, "", origins);
  apply_overrides(root, overrides, origins);
  KeyIndex index(origins);
  index.scan(root, "");
  RunSpec spec;
  Reader reader(index, origins);
  visit_spec(reader, spec);
  resolve_spec(spec, origins);
  spec.source = source;
  return spec;
}

}  // namespace

RunSpec load_spec_from_string(const std::string& text, const std::string& source_name,
                              const std::vector<std::string>& overrides) {
  try {
    return load_tree(parse_spec_text(text, source_name), source_name, overrides);
  } catch (const YAML::Exception& e) {
    // yaml-cpp refusing an operation on a tree we already checked: still the input's fault.
    throw ConfigError(format_mark(source_name, e.mark) + ": cannot read the spec: " + e.msg);
  }
}

RunSpec load_spec(const std::string& path, const std::vector<std::string>& overrides) {
  return load_spec_from_string(read_spec_file(path), path, overrides);
}

}  // namespace mp
