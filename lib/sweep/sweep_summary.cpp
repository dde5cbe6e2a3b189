// sweep_summary.cpp: a small reader for the flat summary.json object (sweep_summary.h).
#include "sweep/sweep_summary.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

namespace mp {

namespace {

struct Value {
  enum Kind { Null, Number, String, Bool } kind = Null;
  double number = 0;
  std::string text;
};

class FlatJson {
 public:
  explicit FlatJson(const std::string& s) : s_(s) {}

  bool parse(std::map<std::string, Value>& out, std::string& error) {
    ws();
    if (!eat('{')) return fail(error, "expected '{'");
    ws();
    if (eat('}')) return end(error);
    while (true) {
      ws();
      std::string key;
      if (!string(key)) return fail(error, "expected a \"key\"");
      ws();
      if (!eat(':')) return fail(error, "expected ':' after \"" + key + "\"");
      ws();
      Value v;
      if (!value(v)) return fail(error, "bad value for \"" + key + "\"");
      out[key] = v;
      ws();
      if (eat(',')) continue;
      if (eat('}')) return end(error);
      return fail(error, "expected ',' or '}'");
    }
  }

 private:
  bool end(std::string& error) {
    ws();
    return i_ == s_.size() || fail(error, "text after the closing '}'");
  }
  bool fail(std::string& error, const std::string& what) {
    error = what + " at byte " + std::to_string(i_);
    return false;
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t'))
      ++i_;
  }
  bool eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool literal(const char* word) {
    const std::string w(word);
    if (s_.compare(i_, w.size(), w) != 0) return false;
    i_ += w.size();
    return true;
  }
  bool string(std::string& out) {
    if (!eat('"')) return false;
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (c == '"') return true;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) return false;
      const char e = s_[i_++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u': {
          if (i_ + 4 > s_.size()) return false;
          const long cp = std::strtol(s_.substr(i_, 4).c_str(), nullptr, 16);
          i_ += 4;
          out += cp < 0x80 ? static_cast<char>(cp) : '?';  // summary.json escapes only controls
          break;
        }
        default:
          out += e;  // \" \\ \/
      }
    }
    return false;
  }
  bool value(Value& v) {
    if (i_ >= s_.size()) return false;
    if (s_[i_] == '"') {
      v.kind = Value::String;
      return string(v.text);
    }
    if (literal("null")) return v.kind = Value::Null, true;
    if (literal("true")) return v.kind = Value::Bool, v.number = 1, true;
    if (literal("false")) return v.kind = Value::Bool, v.number = 0, true;
    const char* begin = s_.c_str() + i_;
    char* stop = nullptr;
    v.number = std::strtod(begin, &stop);
    if (stop == begin) return false;
    i_ += static_cast<size_t>(stop - begin);
    v.kind = Value::Number;
    return true;
  }

  const std::string& s_;
  size_t i_ = 0;
};

}  // namespace

std::optional<Summary> parse_summary_json(const std::string& text, std::string* error) {
  std::map<std::string, Value> m;
  std::string err;
  if (!FlatJson(text).parse(m, err)) {
    if (error) *error = err;
    return std::nullopt;
  }
  const auto num = [&m](const char* k, double fallback) {
    const auto it = m.find(k);
    return it != m.end() && it->second.kind == Value::Number ? it->second.number : fallback;
  };
  const auto str = [&m](const char* k) {
    const auto it = m.find(k);
    return it != m.end() && it->second.kind == Value::String ? it->second.text : std::string();
  };
  Summary s;
  s.final_train_loss = num("final_train_loss", Summary::kNone);
  s.best_val_loss = num("best_val_loss", Summary::kNone);
  s.final_val_accuracy = num("final_val_accuracy", Summary::kNone);
  s.steps = static_cast<int64_t>(num("steps", 0));
  s.skipped_steps = static_cast<int64_t>(num("skipped_steps", 0));
  s.samples_per_s = num("samples_per_s", 0);
  s.peak_memory_bytes = static_cast<int64_t>(num("peak_memory_bytes", 0));
  s.wall_s = num("wall_s", 0);
  s.policy = str("policy");
  s.device = str("device");
  s.world_size = static_cast<int64_t>(num("world_size", 1));
  return s;
}

std::optional<Summary> read_summary_json(const std::filesystem::path& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (error) *error = "cannot open " + path.string();
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string err;
  auto s = parse_summary_json(ss.str(), &err);
  if (!s && error) *error = path.string() + ": " + err;
  return s;
}

}  // namespace mp
