// atomic_file.cpp: temp file + fsync + rename + directory fsync, with POSIX calls so every step's
// errno can be reported.
#include "checkpoint/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace mp {
namespace fs = std::filesystem;

namespace {

std::string errno_text(int err) { return std::strerror(err); }

[[noreturn]] void fail(const fs::path& path, const std::string& step, int err,
                       const std::string& what_to_do) {
  throw DataError("cannot write " + path.string() + ": " + step + " failed: " + errno_text(err) +
                  "; " + what_to_do);
}

constexpr const char* kCheckDir =
    "check that the directory exists, is writable and that the disk is not full";

// Closes an fd on scope exit unless released.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

// Removes a temp file on scope exit unless disarmed (the rename happened).
struct TempRemover {
  fs::path path;
  bool armed = true;
  ~TempRemover() {
    if (armed) ::unlink(path.c_str());
  }
};

fs::path parent_or_dot(const fs::path& p) {
  fs::path dir = p.parent_path();
  return dir.empty() ? fs::path(".") : dir;
}

}  // namespace

fs::path temp_path_for(const fs::path& path) {
  static std::atomic<unsigned long> counter{0};
  std::string name = "." + path.filename().string() + ".tmp." + std::to_string(::getpid()) + "." +
                     std::to_string(counter.fetch_add(1));
  return parent_or_dot(path) / name;
}

bool is_temp_name(const std::string& filename) {
  return !filename.empty() && filename[0] == '.' && filename.find(".tmp.") != std::string::npos;
}

void remove_temp_files(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!is_temp_name(entry.path().filename().string())) continue;
    std::error_code rm;
    fs::remove(entry.path(), rm);
  }
}

void fsync_path(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, "open for fsync", errno, kCheckDir);
  FdCloser closer{fd};
  if (::fsync(fd) != 0) fail(path, "fsync", errno, kCheckDir);
}

void fsync_directory(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail(dir, "open directory for fsync", errno, kCheckDir);
  FdCloser closer{fd};
  // Some file systems refuse fsync on directories (EINVAL); the rename itself is still atomic
  // there.
  if (::fsync(fd) != 0 && errno != EINVAL) fail(dir, "fsync of the directory", errno, kCheckDir);
}

void rename_durable(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    fail(to, "rename from " + from.string(), errno, kCheckDir);
  fsync_directory(parent_or_dot(to));
}

void write_file_atomic(const fs::path& path, std::string_view contents) {
  const fs::path tmp = temp_path_for(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, "creating temp file " + tmp.string(), errno, kCheckDir);
  TempRemover remover{tmp};
  {
    FdCloser closer{fd};
    const char* p = contents.data();
    size_t left = contents.size();
    while (left > 0) {
      ssize_t n = ::write(fd, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail(path, "writing temp file " + tmp.string(), errno, kCheckDir);
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) fail(path, "fsync of temp file " + tmp.string(), errno, kCheckDir);
    closer.fd = -1;
    if (::close(fd) != 0) fail(path, "closing temp file " + tmp.string(), errno, kCheckDir);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    fail(path, "rename from temp file " + tmp.string(), errno, kCheckDir);
  remover.armed = false;
  fsync_directory(parent_or_dot(path));
}

std::string read_file(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw DataError("cannot read " + path.string() + ": " + errno_text(errno) +
                    "; check that the file exists and is readable");
  FdCloser closer{fd};
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw DataError("cannot read " + path.string() + ": " + errno_text(errno) +
                      "; check that the file is readable");
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace mp
