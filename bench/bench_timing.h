// bench_timing.h: the measurement method every training benchmark shares (bench_train_mlp,
// bench_train_spec; scripts/torch_bench_timing.py is its PyTorch twin). A Timed operation is warmed
// up and calibrated to ~round_s seconds per round; callers then alternate rounds over all their
// operations, so a burst of load from other processes falls on all of them; every call is timed,
// and tables show medians (and 10th percentiles: the speed between bursts on a shared machine).
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace mp::bench {

inline double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The 1-minute load average (-1 when unreadable), printed with every table.
inline double load_average() {
  double l1 = -1;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &l1) != 1) l1 = -1;
    std::fclose(f);
  }
  return l1;
}

// A timed operation: `reps` calls per round, seconds per call of each round.
struct Timed {
  std::function<void()> f;
  int reps = 1;
  std::vector<double> calls;  // seconds of every timed call
  void calibrate(double round_s, int warmup) {
    for (int i = 0; i < warmup; ++i) f();
    const double t0 = now();
    f();
    f();
    reps = std::max(3, static_cast<int>(round_s / std::max((now() - t0) / 2, 1e-7)));
  }
  // `reps` timed calls, cut short after 3 x round_s (a burst of load must not stretch the run).
  void round(double round_s) {
    const double t0 = now();
    double t = t0;
    for (int i = 0; i < reps && t - t0 < 3 * round_s; ++i) {
      f();
      const double t1 = now();
      calls.push_back(t1 - t);
      t = t1;
    }
  }
  double pct(double q) const {
    std::vector<double> v = calls;
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[static_cast<size_t>(q * double(v.size() - 1))];
  }
  double med() const { return pct(0.5); }
  double p10() const { return pct(0.1); }
};

inline std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> v;
  size_t p = 0;
  while (p <= s.size()) {
    const size_t q = std::min(s.find(',', p), s.size());
    if (q > p) v.push_back(s.substr(p, q - p));
    p = q + 1;
  }
  return v;
}

}  // namespace mp::bench
