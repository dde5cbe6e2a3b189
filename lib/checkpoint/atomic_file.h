// atomic_file.h: replace a file's whole content atomically (docs/ARCHITECTURE.md "Checkpoints": nothing a user
// can do loses a finished file). The new content goes to a temp file in the same directory, is
// fsynced, renamed over the target, and the directory is fsynced, so a crash at any moment leaves
// either the old file or the new one, never a mix. Failures throw mp::DataError naming the path and
// errno text.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>

namespace mp {

// Writes `contents` to `path` atomically (temp file, write, fsync, rename, fsync the directory).
// On failure the old file (if any) is untouched and no temp file is left behind.
void write_file_atomic(const std::filesystem::path& path, std::string_view contents);

// A fresh temp-file name next to `path`: "<dir>/.<name>.tmp.<pid>.<n>". Names starting with '.' and
// containing ".tmp." are never mistaken for finished files by the readers in this folder.
std::filesystem::path temp_path_for(const std::filesystem::path& path);

// True for names temp_path_for produces (used to clean up after a crash).
bool is_temp_name(const std::string& filename);

// Deletes the temp files (is_temp_name) in `dir` that a killed writer left behind; best effort.
// Call it only when no other writer works in `dir`.
void remove_temp_files(const std::filesystem::path& dir);

// fsync an existing file / a directory (so a rename or a new entry in it survives a crash).
void fsync_path(const std::filesystem::path& path);
void fsync_directory(const std::filesystem::path& dir);

// Renames `from` over `to` and fsyncs the directory of `to`. Both must be in the same directory.
void rename_durable(const std::filesystem::path& from, const std::filesystem::path& to);

// Reads a whole file; throws DataError naming the path when it cannot be opened or read.
std::string read_file(const std::filesystem::path& path);

}  // namespace mp
