// sweep_plot.h: drawing a sweep's plots with scripts/plot_runs.py (Python + matplotlib; the trainer
// itself never needs Python). Missing Python or matplotlib is reported, never an error.
#pragma once
#include <string>

namespace mp {

struct PlotOutcome {
  bool drawn = false;  // loss.png, val.png and loss_scale.png exist in the sweep directory
  std::string note;    // why not, for report.md and stderr
};

// Runs `python script sweep_dir` (no shell) and waits for it. The script exits 3 when matplotlib
// cannot be imported; `script` empty means it was not found.
PlotOutcome run_plot_script(const std::string& python, const std::string& script,
                            const std::string& sweep_dir);

}  // namespace mp
