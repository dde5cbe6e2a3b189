// did_you_mean.h: "did you mean" suggestions for misspelt keys, layer types and choices
// (case-insensitive edit distance counting adjacent transpositions, with a threshold that grows with the word's length).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mp {

// Case-insensitive edit distance (insertions, deletions, substitutions, adjacent swaps).
size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word` when it is close enough to be a plausible typo, else "".
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

// ` (did you mean "X"?)` when there is a close candidate, else "".
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

// "a, b, c" (used to list the allowed keys or choices in a message).
std::string join(const std::vector<std::string>& items, std::string_view sep = ", ");

}  // namespace mp
