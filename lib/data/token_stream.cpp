// token_stream.cpp: opening and checking a token stream and its vocabulary.
#include "data/token_stream.h"

#include "core/error.h"
#include "data/h5_array.h"

namespace mp {

namespace {

// The whole of a 1-D integer dataset as int64 values. DataError (naming `what`) otherwise.
std::vector<int64_t> read_int_vector(hid_t h5, const std::string& file, const std::string& path,
                                     const std::string& what) {
  const H5Array a(h5, file, path, true);
  if (a.shape().size() != 1 || elem_kind_is_float(a.kind())) {
    throw DataError(file + ": dataset " + path + ": expected " + what + " as a 1-D integer "
                    "dataset, found " + std::string(elem_kind_name(a.kind())) + " of shape " +
                    shape_str(a.shape()) + "; write it with datasets/kjv/prepare.py's layout");
  }
  if (a.rows() == 0)
    throw DataError(file + ": dataset " + path + ": expected " + what + ", found an empty dataset");
  std::vector<unsigned char> raw(static_cast<size_t>(a.rows()) * a.row_bytes());
  a.read_range(0, a.rows(), raw.data());
  std::vector<int64_t> v(static_cast<size_t>(a.rows()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = elem_to_int64(a.kind(), raw.data(), i);
  return v;
}

}  // namespace

std::vector<int32_t> read_token_vocab(const std::string& file) {
  const H5Handle h5 = h5_open_read(file);
  const std::vector<int64_t> v = read_int_vector(h5.get(), file, kVocabDataset,
                                                 "the vocabulary (one entry per token id)");
  return std::vector<int32_t>(v.begin(), v.end());
}

TokenStream::TokenStream(const std::string& file, const std::string& path, const std::string& role)
    : file_(file), path_(path), role_(role) {
  const H5Handle h5 = h5_open_read(file);
  vocab_size_ = static_cast<int64_t>(
      read_int_vector(h5.get(), file, kVocabDataset, "the vocabulary (one entry per token id)").size());
  const std::vector<int64_t> ids = read_int_vector(
      h5.get(), file, path, "the " + (role.empty() ? std::string() : role + " ") + "token stream");
  tokens_.resize(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size_) {
      throw DataError(file + ": dataset " + path + ": token " + std::to_string(ids[i]) +
                      " at position " + std::to_string(i) + " is out of range: expected 0.." +
                      std::to_string(vocab_size_ - 1) + " (" + kVocabDataset + " has " +
                      std::to_string(vocab_size_) + " entries); rebuild the file with its "
                      "prepare script");
    }
    tokens_[i] = static_cast<int32_t>(ids[i]);
  }
}

std::shared_ptr<const TokenStream> TokenStream::open(const std::string& file, const std::string& path,
                                                     const std::string& role) {
  return std::make_shared<const TokenStream>(file, path, role);
}

void TokenStream::check_context(int64_t context) const {
  if (context >= 1 && context < size()) return;
  throw DataError(file_ + ": dataset " + path_ + ": data.context " + std::to_string(context) +
                  " needs windows of " + std::to_string(context + 1) + " tokens, but the " +
                  (role_.empty() ? std::string() : role_ + " ") + "stream holds " +
                  std::to_string(size()) + "; lower data.context (and model.input_shape) or use "
                  "a longer stream");
}

}  // namespace mp
