// error.h: the exceptions a run can end with, each mapped to one documented exit code.
//   0 ok, 1 internal error, 2 usage or config error, 3 data error, 4 numerical failure,
//   130/143 stopped by SIGINT/SIGTERM after saving a checkpoint.
#pragma once
#include <stdexcept>
#include <string>

namespace mp {

enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,
  kExitConfig = 2,
  kExitData = 3,
  kExitNumerical = 4,
  kExitSigint = 130,
  kExitSigterm = 143,
};

// Base: carries the exit code the program should end with.
class Error : public std::runtime_error {
 public:
  Error(int exit_code, const std::string& msg) : std::runtime_error(msg), code_(exit_code) {}
  int exit_code() const { return code_; }

 private:
  int code_;
};

// Bad command line, bad run spec, bad override (exit 2).
class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& msg) : Error(kExitConfig, msg) {}
};

// Missing or malformed data file, shape or label mismatch (exit 3).
class DataError : public Error {
 public:
  explicit DataError(const std::string& msg) : Error(kExitData, msg) {}
};

// Divergence: too many consecutive non-finite steps, NaN loss (exit 4).
class NumericalError : public Error {
 public:
  explicit NumericalError(const std::string& msg) : Error(kExitNumerical, msg) {}
};

// A broken invariant inside mptrain (exit 1): a bug, never the user's input.
class InternalError : public Error {
 public:
  explicit InternalError(const std::string& msg) : Error(kExitInternal, msg) {}
};

[[noreturn]] void internal_fail(const char* file, int line, const std::string& what);

}  // namespace mp

// MP_CHECK(cond, msg): internal invariant; failure is a bug (exit 1), not a user error.
#define MP_CHECK(cond, msg)                                        \
  do {                                                             \
    if (!(cond)) ::mp::internal_fail(__FILE__, __LINE__, (msg));   \
  } while (0)
