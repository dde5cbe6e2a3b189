// exit_report.cpp: rethrows the exception in flight to classify it.
#include "core/exit_report.h"

#include <exception>
#include <new>

namespace mp {

ExitReport current_exit_report() {
  try {
    throw;
  } catch (const Error& e) {
    return {e.exit_code(), e.what(), false};
  } catch (const std::bad_alloc&) {
    return {kExitInternal, "out of memory", false};
  } catch (const std::exception& e) {
    return {kExitInternal, e.what(), true};
  } catch (...) {
    return {kExitInternal, "unknown exception", true};
  }
}

}  // namespace mp
