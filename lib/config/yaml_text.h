// yaml_text.h: how mptrain writes values as YAML text: numbers shortest-round-trip
// (std::to_chars), strings plain when that is unambiguous and double-quoted otherwise.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace mp {

// Shortest text that reads back as exactly `v` ("0.001", "65536", "1e-08").
std::string yaml_number(double v);

// `s` as a YAML scalar that reads back as the same string in block and flow context:
// plain when it is a simple word or path (fp16, /train/x, runs/mnist), else double-quoted.
std::string yaml_string(std::string_view s);

// `s` shown inside an error message: double-quoted, control bytes escaped, cut after 60 bytes.
std::string quote_for_message(std::string_view s);

}  // namespace mp
