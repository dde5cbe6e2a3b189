// token_stream.h: a token corpus for sequence models (data.format: tokens) — one 1-D integer
// dataset of token ids (e.g. /train/tokens) and the file's /vocab (one entry per token id; the
// char-level corpora of datasets/ store Unicode code points there). The whole stream is held in
// memory as int32 (a 4.4 MB text is 17 MB): windows are cut at random offsets, so reading them
// from the file would be one hyperslab per window.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mp {

// The dataset holding the vocabulary of a token file.
inline constexpr const char* kVocabDataset = "/vocab";

// The entries of /vocab (any 1-D integer dataset; for char-level corpora the Unicode code point
// of each token id). DataError when the file or /vocab is missing, not 1-D integers, or empty.
std::vector<int32_t> read_token_vocab(const std::string& file);

class TokenStream {
 public:
  // Opens `file`, reads its /vocab (its length is the vocabulary size) and the 1-D integer
  // dataset `path`. DataError naming file and dataset when either is missing or not 1-D
  // integers, the stream is empty, or a token is negative or >= the vocabulary size (the
  // message gives the first such position). `role` ("training", "validation") is for messages.
  TokenStream(const std::string& file, const std::string& path, const std::string& role = "");
  static std::shared_ptr<const TokenStream> open(const std::string& file, const std::string& path,
                                                 const std::string& role = "");

  const std::string& file() const { return file_; }
  const std::string& path() const { return path_; }
  const std::string& role() const { return role_; }
  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }  // tokens
  int64_t vocab_size() const { return vocab_size_; }
  const int32_t* data() const { return tokens_.data(); }

  // DataError unless a window of context + 1 tokens fits (context < size()), naming the file,
  // dataset and both lengths.
  void check_context(int64_t context) const;

 private:
  std::string file_, path_, role_;
  int64_t vocab_size_ = 0;
  std::vector<int32_t> tokens_;
};

}  // namespace mp
