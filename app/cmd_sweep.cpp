// cmd_sweep.cpp: `mptrain sweep --config FILE --grid KEY=V1,V2,... [--set KEY=VALUE]... [--out
// DIR]` (behaviour in sweep/sweep.h). Finds the plot script and the Python that runs it:
//   MPTRAIN_PYTHON       Python for scripts/plot_runs.py (default /usr/bin/python3)
//   MPTRAIN_PLOT_SCRIPT  path of plot_runs.py (default: <bin>/../share/mptrain (installed by
//                        `cmake --install`), <bin>/../scripts and <bin>/../../scripts (a build
//                        folder inside the source tree), then the source tree the binary was built
//                        from (a build folder anywhere else))
#include <cstdlib>
#include <filesystem>

#include "app/commands.h"
#include "sweep/sweep.h"

namespace mp {

namespace {

namespace fs = std::filesystem;

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

std::string find_plot_script() {
  if (const char* v = std::getenv("MPTRAIN_PLOT_SCRIPT"); v && *v) return v;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  const fs::path bin = exe.parent_path();
  for (const fs::path& p : {bin / ".." / "share" / "mptrain", bin / ".." / "scripts",
                            bin / ".." / ".." / "scripts", fs::path(MPTRAIN_SOURCE_DIR) / "scripts"}) {
    const fs::path f = p / "plot_runs.py";
    if (fs::is_regular_file(f, ec)) return fs::weakly_canonical(f, ec).string();
  }
  return "";
}

}  // namespace

int cmd_sweep(const std::string& config, const std::vector<std::string>& grid,
              const std::vector<std::string>& sets, const std::string& out_dir, int verbosity) {
  SweepOptions o;
  o.config = config;
  o.grid = grid;
  o.sets = sets;
  o.out_dir = out_dir;
  o.verbosity = verbosity;
  o.python = env_or("MPTRAIN_PYTHON", "/usr/bin/python3");
  o.plot_script = find_plot_script();
  return run_sweep(o);
}

}  // namespace mp
