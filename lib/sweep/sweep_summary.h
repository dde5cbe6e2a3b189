// sweep_summary.h: reading a run's summary.json back (the sweep report takes every point's figures
// from it). Accepts the flat JSON object summary_json() writes (run_files.h): string, number, null
// and true/false values; null figures read as Summary::kNone (NaN); unknown keys are ignored.
#pragma once
#include <filesystem>
#include <optional>
#include <string>

#include "train/run_files.h"

namespace mp {

// The figures of `text`, or nullopt with *error set when it is not such an object.
std::optional<Summary> parse_summary_json(const std::string& text, std::string* error);

// The same for a file; nullopt with *error set when it cannot be read or parsed.
std::optional<Summary> read_summary_json(const std::filesystem::path& path, std::string* error);

}  // namespace mp
