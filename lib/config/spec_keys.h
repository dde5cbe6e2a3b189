// spec_keys.h: the list of run-spec keys and sections with type, default, allowed values and doc,
// as the schema declares them. Used by --set (is this a key?), by the loader (which keys does a
// section have?), by --print-reference and by the test that checks configs/REFERENCE.md.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace mp {

struct SpecKeyInfo {
  std::string path;           // "optimizer.lr"
  std::string type;           // "number", "integer", "bool", "string", "list of ..."
  std::string default_value;  // as the dump writes it; "" for required keys
  std::string allowed;        // "> 0", "fp32 | fp16 | bf16", "" when anything goes
  bool required = false;
  std::string doc;
};

struct SpecSectionInfo {
  std::string path;  // "precision.loss_scale"
  std::string doc;
};

// Every key, in schema (dump) order.
const std::vector<SpecKeyInfo>& spec_keys();
// Every section, in schema order.
const std::vector<SpecSectionInfo>& spec_sections();

const SpecKeyInfo* find_spec_key(std::string_view path);
bool is_spec_section(std::string_view path);
// Names directly inside a section ("" = the top level): keys and subsections, schema order.
std::vector<std::string> spec_children(std::string_view section);

}  // namespace mp
