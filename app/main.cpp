// main.cpp: mptrain's entry point. Runs the command line (cli.h) and turns every exception into
// one "mptrain: error: ..." line on stderr and the documented exit code
// (core/exit_report.h, the mapping `mptrain sweep` also uses).
#include <cstdio>

#include "app/cli.h"
#include "core/exit_report.h"

int main(int argc, char** argv) {
  try {
    return mp::run_cli(argc, argv);
  } catch (...) {
    const mp::ExitReport r = mp::current_exit_report();
    if (r.internal)
      std::fprintf(stderr, "mptrain: %s (this is a bug in mptrain; please report it)\n",
                   r.text().c_str());
    else
      std::fprintf(stderr, "mptrain: error: %s\n", r.message.c_str());
    return r.code;
  }
}
