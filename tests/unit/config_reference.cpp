// config_reference.cpp: configs/REFERENCE.md documents every key and every layer type and param
// (and holds exactly the generated tables between its markers, so it cannot drift).
#include <fstream>
#include <sstream>

#include <doctest/doctest.h>

#include "config/spec_keys.h"
#include "config/spec_reference.h"
#include "nn/layer_spec.h"

#ifndef MPTRAIN_REFERENCE_MD
#error "MPTRAIN_REFERENCE_MD (the path of configs/REFERENCE.md) must be defined"
#endif

using namespace mp;

namespace {

std::string reference_text() {
  std::ifstream in(MPTRAIN_REFERENCE_MD);
  REQUIRE_MESSAGE(in.good(), "cannot read " MPTRAIN_REFERENCE_MD);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const char* const kRegenerate =
    "; regenerate the tables with scripts/update_reference.sh (mptrain --print-reference)";

}  // namespace

TEST_CASE("every spec key is in REFERENCE.md") {
  const std::string ref = reference_text();
  CHECK(spec_keys().size() > 50);  // a sanity floor: the walk found the schema
  for (const auto& k : spec_keys())
    CHECK_MESSAGE(ref.find("| `" + k.path + "` |") != std::string::npos,
                  "key " << k.path << " is missing from REFERENCE.md" << kRegenerate);
}

TEST_CASE("every layer type and layer param is in REFERENCE.md") {
  const std::string ref = reference_text();
  for (const auto& d : layer_catalog()) {
    const size_t at = ref.find("### `" + d.type + "`");
    CHECK_MESSAGE(at != std::string::npos, "layer " << d.type << " is missing" << kRegenerate);
    if (at == std::string::npos) continue;
    const size_t end = ref.find("\n### ", at + 1);
    const std::string part = ref.substr(at, end == std::string::npos ? std::string::npos : end - at);
    for (const auto& p : d.params)
      CHECK_MESSAGE(part.find("| `" + p.name + "` |") != std::string::npos,
                    "param " << d.type << "." << p.name << " is missing" << kRegenerate);
  }
  for (const auto& p : common_layer_params())
    CHECK_MESSAGE(ref.find("| `" + p.name + "` |") != std::string::npos,
                  "common param " << p.name << " is missing" << kRegenerate);
}

TEST_CASE("REFERENCE.md holds exactly the generated tables") {
  const std::string ref = reference_text();
  const size_t begin = ref.find(kReferenceBegin);
  const size_t end = ref.find(kReferenceEnd);
  REQUIRE_MESSAGE(begin != std::string::npos, "no BEGIN GENERATED marker" << kRegenerate);
  REQUIRE_MESSAGE(end != std::string::npos, "no END GENERATED marker" << kRegenerate);
  const size_t from = begin + std::string(kReferenceBegin).size() + 1;
  REQUIRE(end >= from);
  CHECK_MESSAGE(ref.substr(from, end - from) == reference_markdown(),
                "the tables in REFERENCE.md differ from the code" << kRegenerate);
}

TEST_CASE("the key list knows sections and their children") {
  CHECK(is_spec_section("precision.loss_scale"));
  CHECK_FALSE(is_spec_section("optimizer.lr"));
  REQUIRE(find_spec_key("optimizer.lr"));
  CHECK(find_spec_key("optimizer.lr")->type == "number");
  CHECK(find_spec_key("optimizer.lr")->default_value == "0.001");
  CHECK(find_spec_key("optimizer.lr")->allowed == "> 0");
  CHECK(find_spec_key("data.file")->required);
  const auto top = spec_children("");
  REQUIRE(top.size() == 13);
  CHECK(top[0] == "name");
  CHECK(top[4] == "data");
  CHECK(top[11] == "dist");
  CHECK(top[12] == "debug");
  const auto prec = spec_children("precision");
  CHECK(prec.back() == "loss_scale");
}
