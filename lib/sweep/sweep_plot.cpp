// sweep_plot.cpp: posix_spawn of the plot script (sweep_plot.h).
#include "sweep/sweep_plot.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

extern char** environ;

namespace mp {

PlotOutcome run_plot_script(const std::string& python, const std::string& script,
                            const std::string& sweep_dir) {
  PlotOutcome o;
  const std::string redo =
      "; draw them later with a Python that has matplotlib: <python> "
      "scripts/plot_runs.py " +
      sweep_dir;
  if (::access(python.c_str(), X_OK) != 0) {
    o.note =
        "no Python at " + python + " (set MPTRAIN_PYTHON to a Python 3 with matplotlib)" + redo;
    return o;
  }
  if (script.empty()) {
    o.note =
        "scripts/plot_runs.py was not found next to the mptrain binary (set "
        "MPTRAIN_PLOT_SCRIPT to its path)" +
        redo;
    return o;
  }
  std::vector<std::string> args = {python, script, sweep_dir};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int err = ::posix_spawn(&pid, python.c_str(), nullptr, nullptr, argv.data(), environ);
  if (err != 0) {
    o.note = "could not start " + python + ": " + std::strerror(err) + redo;
    return o;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      o.note = std::string("waiting for plot_runs.py failed: ") + std::strerror(errno);
      return o;
    }
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    namespace fs = std::filesystem;
    const fs::path d(sweep_dir);
    for (const char* f : {"loss.png", "val.png", "loss_scale.png"}) {
      std::error_code ec;
      if (!fs::exists(d / f, ec)) {
        o.note = std::string("plot_runs.py exited 0 but wrote no ") + f;
        return o;
      }
    }
    o.drawn = true;
    return o;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
    o.note = python + " has no matplotlib (plot_runs.py could not import it)" + redo;
  else if (WIFEXITED(status))
    o.note = "plot_runs.py failed with exit " + std::to_string(WEXITSTATUS(status)) +
             " (its messages are on stderr)";
  else
    o.note = "plot_runs.py was killed by signal " + std::to_string(WTERMSIG(status));
  return o;
}

}  // namespace mp
