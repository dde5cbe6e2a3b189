// exit_report.h: the one mapping from an exception that ends a run to its exit code (error.h) and
// message, used by main() for the process and by `mptrain sweep` for each point.
#pragma once
#include <string>

#include "core/error.h"

namespace mp {

struct ExitReport {
  int code = kExitInternal;
  std::string message;    // e.what(), "out of memory", or "unknown exception"
  bool internal = false;  // not an mp::Error: a bug in mptrain, worded as one
  // The message as one line: "internal error: <message>" when internal.
  std::string text() const { return internal ? "internal error: " + message : message; }
};

// The report for the exception being handled: an mp::Error gives its own code and message,
// std::bad_alloc "out of memory" (1), anything else is an internal error (1). Call it only inside
// a catch block.
ExitReport current_exit_report();

}  // namespace mp
