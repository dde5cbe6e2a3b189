// param_select.h: which parameters a list of names or prefixes means (optimizer.freeze,
// train.init_exclude). An entry matches a parameter name when it is the name, a dotted prefix of
// it ("fc1" matches "fc1.weight" and "fc1.bias", "enc" matches "enc.0.weight", but "fc1" does not
// match "fc10.weight"), or ends with '*' and the name starts with what comes before the '*'.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace mp {

bool param_matches(std::string_view name, std::string_view entry);

// The names of `names` (in their order) that some entry matches. Throws ConfigError naming `key`
// and EVERY entry that matches none of `names` (a typo would otherwise silently select nothing),
// with the layer names available and a "did you mean" suggestion.
std::vector<std::string> select_params(const std::vector<std::string>& names,
                                       const std::vector<std::string>& entries,
                                       const std::string& key);

}  // namespace mp

#include "nn/parameter.h"

namespace mp {

// The names of `params`, in order.
std::vector<std::string> param_names(const ParamList& params);

// optimizer.freeze: freezes (freeze_parameter) every parameter an entry selects and returns their
// names; ConfigError as select_params, and when the entries would freeze every parameter.
std::vector<std::string> freeze_params(const ParamList& params, const std::vector<std::string>& entries);

}  // namespace mp
