// run_files_json.cpp: summary.json, with JSON string escaping and NaN/inf written as null.
#include <cmath>
#include <cstdio>

#include "checkpoint/atomic_file.h"
#include "train/run_files.h"

namespace mp {

namespace {

std::string json_number(double v) { return std::isfinite(v) ? format_number(v) : "null"; }

}  // namespace

std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

std::string summary_json(const Summary& s) {
  std::string j = "{\n";
  auto field = [&j](const char* key, const std::string& value, bool last = false) {
    j += std::string("  \"") + key + "\": " + value + (last ? "\n" : ",\n");
  };
  field("final_train_loss", json_number(s.final_train_loss));
  field("best_val_loss", json_number(s.best_val_loss));
  field("final_val_accuracy", json_number(s.final_val_accuracy));
  field("steps", std::to_string(s.steps));
  field("skipped_steps", std::to_string(s.skipped_steps));
  field("samples_per_s", json_number(s.samples_per_s));
  field("peak_memory_bytes", std::to_string(s.peak_memory_bytes));
  field("wall_s", json_number(s.wall_s));
  field("policy", json_quote(s.policy));
  field("device", json_quote(s.device));
  field("world_size", std::to_string(s.world_size));
  field("comm_s_per_step", json_number(s.comm_s_per_step));
  field("optimizer_state_bytes", std::to_string(s.optimizer_state_bytes));
  field("graph_captures", std::to_string(s.graph_captures));
  field("graph_replays", std::to_string(s.graph_replays));
  field("graph_fallbacks", std::to_string(s.graph_fallbacks), true);
  return j + "}\n";
}

void write_summary_json(const std::filesystem::path& path, const Summary& s) {
  write_file_atomic(path, summary_json(s));
}

}  // namespace mp
