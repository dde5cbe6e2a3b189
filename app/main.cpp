// main.cpp: mptrain's entry point. Runs the command line (cli.h) and turns every exception into
// one "mptrain: error: ..." line on stderr and the documented exit code (core/error.h).
#include <cstdio>
#include <exception>
#include <new>

#include "app/cli.h"
#include "core/error.h"

int main(int argc, char** argv) {
  try {
    return mp::run_cli(argc, argv);
  } catch (const mp::Error& e) {
    std::fprintf(stderr, "mptrain: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "mptrain: error: out of memory\n");
    return mp::kExitInternal;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mptrain: internal error: %s (this is a bug in mptrain; please report it)\n",
                 e.what());
    return mp::kExitInternal;
  } catch (...) {
    std::fprintf(stderr, "mptrain: internal error: unknown exception (this is a bug in mptrain)\n");
    return mp::kExitInternal;
  }
}
