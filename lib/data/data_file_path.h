// data_file_path.h: where `data.file` points. An absolute path is used as is; a relative path is
// looked up first against the working directory (what configs/REFERENCE.md promises), then
// against the folder of the run spec that named it, so a spec and its data can also move together.
#pragma once
#include <string>

namespace mp {

// `file` as written in the spec; `spec_source` is the spec file's path ("" for a spec built in
// code). Returns the first candidate that exists, or `file` unchanged when none does (opening it
// then reports the missing file).
std::string resolve_data_file(const std::string& file, const std::string& spec_source);

}  // namespace mp
