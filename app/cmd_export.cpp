// cmd_export.cpp: `mptrain export`: a checkpoint's (or export file's) parameters, rounded once to
// the chosen dtype, into an export file (checkpoint/weights_file.h) for inference and h5py.
#include <cstdio>
#include <filesystem>
#include <optional>

#include "app/commands.h"
#include "checkpoint/weights_file.h"
#include "core/error.h"
#include "core/text.h"

namespace mp {

int cmd_export(const std::string& checkpoint, const std::string& dtype, const std::string& out) {
  const std::optional<DType> dt = parse_dtype(dtype);
  if (!dt || !is_float(*dt))
    throw ConfigError("--dtype: expected one of fp32, bf16, fp16, got \"" + dtype + "\"");
  std::error_code ec;
  if (std::filesystem::equivalent(checkpoint, out, ec))
    throw ConfigError("--out " + out + " is the checkpoint itself; write the export to another file");
  const WeightsData src = read_weights_any(checkpoint);  // DataError (exit 3) when unreadable
  const WeightsData w = rounded_weights(src, *dt, checkpoint);  // NumericalError (exit 4)
  write_weights_file(out, w);
  int64_t n = 0;
  for (const auto& t : w.params) n += shape_numel(t.shape);
  const auto bytes = std::filesystem::file_size(out, ec);
  std::printf("exported %lld parameters (%zu tensors) of %s (step %lld) as %s to %s (%s)\n",
              static_cast<long long>(n), w.params.size(), checkpoint.c_str(),
              static_cast<long long>(w.step), dtype.c_str(), out.c_str(),
              ec ? "size unknown" : printf_text("%.0f bytes", static_cast<double>(bytes)).c_str());
  return 0;
}

}  // namespace mp
