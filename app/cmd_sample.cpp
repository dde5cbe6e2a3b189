// cmd_sample.cpp: `mptrain sample`: text from a char-level language model — the prompt encoded
// with the data file's /vocab, then one token at a time: the model runs on the last
// min(length, T) tokens, left-aligned in its [1, T] input and padded on the right with token 0,
// and the logits are read at the last real position. A causal model's output at position i
// depends only on positions <= i, so the padding changes nothing (no KV cache: each token costs
// one forward pass over T positions).
#include <spdlog/spdlog.h>

#include <cstdio>
#include <map>

#include "app/commands.h"
#include "checkpoint/weights_file.h"
#include "core/error.h"
#include "data/data_file_path.h"
#include "data/token_stream.h"
#include "nn/layer.h"
#include "train/evaluate.h"
#include "train/model_setup.h"
#include "train/sampler.h"

namespace mp {

namespace {

// Code points of a UTF-8 string; ConfigError on a malformed sequence.
std::vector<int32_t> utf8_decode(const std::string& s) {
  std::vector<int32_t> out;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const int n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + static_cast<size_t>(n) > s.size())
      throw ConfigError("--prompt: expected UTF-8 text, found byte 0x" +
                        std::to_string(static_cast<int>(c)) + " at offset " + std::to_string(i));
    int32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (int k = 1; k < n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
      if ((d >> 6) != 0x2)
        throw ConfigError("--prompt: expected UTF-8 text, found a broken sequence at offset " +
                          std::to_string(i));
      cp = (cp << 6) | (d & 0x3F);
    }
    out.push_back(cp);
    i += static_cast<size_t>(n);
  }
  return out;
}

std::string utf8_encode(int32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// The prompt's token ids; ConfigError listing every character /vocab lacks.
std::vector<int32_t> encode_prompt(const std::string& prompt, const std::vector<int32_t>& vocab,
                                   const std::string& file) {
  std::map<int32_t, int32_t> id;
  for (size_t i = 0; i < vocab.size(); ++i) id.emplace(vocab[i], static_cast<int32_t>(i));
  std::vector<int32_t> ids;
  std::string unknown;
  for (int32_t cp : utf8_decode(prompt)) {
    auto it = id.find(cp);
    if (it != id.end()) {
      ids.push_back(it->second);
      continue;
    }
    const std::string shown = cp < 0x20 ? "U+" + std::to_string(cp) : "'" + utf8_encode(cp) + "'";
    if (unknown.find(shown) == std::string::npos) unknown += (unknown.empty() ? "" : ", ") + shown;
  }
  if (!unknown.empty())
    throw ConfigError("--prompt: characters not in the vocabulary of " + file + " (" +
                      kVocabDataset + ", " + std::to_string(vocab.size()) + " entries): " + unknown +
                      "; leave them out of the prompt");
  if (ids.empty()) throw ConfigError("--prompt: expected at least one character");
  return ids;
}

}  // namespace

int cmd_sample(RunSpec spec, const SampleOptions& a) {
  if (spec.data.format != "tokens")
    throw ConfigError("data.format: mptrain sample needs a token model (data.format: tokens, "
                      "data.context: T), got " + spec.data.format);
  if (a.tokens < 0) throw ConfigError("--tokens: expected a count >= 0, got " + std::to_string(a.tokens));
  if (a.top_k < 0) throw ConfigError("--top-k: expected a count >= 0, got " + std::to_string(a.top_k));
  const std::string data_file = resolve_data_file(spec);
  const std::vector<int32_t> vocab = read_token_vocab(data_file);
  std::vector<int32_t> ids = encode_prompt(a.prompt, vocab, data_file);

  auto be = make_backend({spec.device, static_cast<int>(spec.threads), spec.precision.allow_tf32});
  const std::string auto_choice = resolve_auto_policy(spec.precision, be->native_low_precision());
  if (!auto_choice.empty()) spdlog::info("{}", auto_choice);
  const int64_t t = spec.data.context;
  const WeightsData w = read_weights_any(a.checkpoint);
  auto model = build_model_with_weights(*be, spec, resolve_dtype_policy(spec.precision), {t}, w,
                                        a.checkpoint);
  const auto v = static_cast<int64_t>(vocab.size());
  if (model->output_shape() != Shape{t, v})
    throw ConfigError("model.layers: mptrain sample needs a model that outputs [T, vocab] = [" +
                      std::to_string(t) + ", " + std::to_string(v) + "] logits per window, but it "
                      "outputs " + shape_str(model->output_shape()) + "; end it with an lm_head "
                      "over the " + std::to_string(v) + " tokens of " + data_file + kVocabDataset);

  std::fputs(a.prompt.c_str(), stdout);
  std::fflush(stdout);
  const SamplerOptions so{a.temperature, a.top_k, a.seed};
  Context ctx{*be, false, 0, 0};
  std::vector<float> window(static_cast<size_t>(t));
  for (int64_t step = 0; step < a.tokens; ++step) {
    const int64_t n = std::min<int64_t>(static_cast<int64_t>(ids.size()), t);
    std::fill(window.begin(), window.end(), 0.0f);  // right padding: invisible to a causal model
    for (int64_t j = 0; j < n; ++j)
      window[static_cast<size_t>(j)] = static_cast<float>(ids[ids.size() - static_cast<size_t>(n - j)]);
    const Tensor x = from_host_floats(*be, window, {1, t}, DType::F32);
    const std::vector<float> logits = to_host_floats(*be, model->forward(ctx, x));
    const int64_t next = sample_token(logits.data() + (n - 1) * v, v, so, static_cast<uint64_t>(step));
    ids.push_back(static_cast<int32_t>(next));
    std::fputs(utf8_encode(vocab[static_cast<size_t>(next)]).c_str(), stdout);
    std::fflush(stdout);
  }
  std::fputs("\n", stdout);
  return std::fflush(stdout) == 0 ? kExitOk : kExitInternal;
}

}  // namespace mp
