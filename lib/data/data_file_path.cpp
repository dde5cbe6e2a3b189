// data_file_path.cpp: resolving data.file against the working directory, then the spec's folder.
#include "data/data_file_path.h"

#include <filesystem>

namespace mp {

std::string resolve_data_file(const std::string& file, const std::string& spec_source) {
  namespace fs = std::filesystem;
  const fs::path p(file);
  if (file.empty() || p.is_absolute() || spec_source.empty()) return file;
  std::error_code ec;
  if (fs::exists(p, ec)) return file;  // relative to the working directory
  const fs::path beside_spec = fs::path(spec_source).parent_path() / p;
  if (fs::exists(beside_spec, ec)) return beside_spec.lexically_normal().string();
  return file;
}

}  // namespace mp
