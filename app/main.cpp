// main.cpp: mptrain's entry point. Runs the command line (cli.h) and turns every exception into
// one "mptrain: error: ..." line on stderr and the documented exit code
// (core/exit_report.h, the mapping `mptrain sweep` also uses). In a multi-process job the line
// names the rank ("mptrain: rank 1: error: ..."), and the process ends through
// dist::finish_process: MPI_Finalize after success, MPI_Abort with the code after a failure, so
// one failing rank ends the whole job at once instead of leaving the others in a collective.
#include <cstdio>

#include "app/cli.h"
#include "core/exit_report.h"
#include "dist/mpi_runtime.h"

int main(int argc, char** argv) {
  int code = 0;
  try {
    code = mp::run_cli(argc, argv);
  } catch (...) {
    const mp::ExitReport r = mp::current_exit_report();
    const std::string rank = mp::dist::process_prefix();
    if (r.internal)
      std::fprintf(stderr, "mptrain: %s%s (this is a bug in mptrain; please report it)\n",
                   rank.c_str(), r.text().c_str());
    else
      std::fprintf(stderr, "mptrain: %serror: %s\n", rank.c_str(), r.message.c_str());
    code = r.code;
  }
  return mp::dist::finish_process(code);
}
