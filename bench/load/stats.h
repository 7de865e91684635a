// Latency samples and percentiles for the scenario reports.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <vector>

namespace sabla::load {

class Latencies {
 public:
  void add(std::chrono::nanoseconds d) { samples_.push_back(d.count()); sorted_ = false; }
  size_t size() const { return samples_.size(); }
  void reserve(size_t n) { samples_.reserve(n); }

  // Nearest-rank percentile in milliseconds (p in [0, 100]); 0 when empty.
  double percentile_ms(double p) {
    if (samples_.empty()) return 0;
    sort();
    const double rank = std::ceil(p / 100.0 * static_cast<double>(samples_.size()));
    const size_t index = std::min(rank <= 1 ? size_t{0} : static_cast<size_t>(rank) - 1, samples_.size() - 1);
    return static_cast<double>(samples_[index]) / 1e6;
  }
  double max_ms() {
    if (samples_.empty()) return 0;
    sort();
    return static_cast<double>(samples_.back()) / 1e6;
  }
  double mean_ms() const {
    if (samples_.empty()) return 0;
    long double sum = 0;
    for (int64_t s : samples_) sum += s;
    return static_cast<double>(sum / samples_.size()) / 1e6;
  }

 private:
  void sort() {
    if (!sorted_) std::sort(samples_.begin(), samples_.end());
    sorted_ = true;
  }
  std::vector<int64_t> samples_;
  bool sorted_ = true;
};

// Rounds to `digits` decimals so the JSON line stays readable.
inline double round_to(double v, int digits) {
  double scale = 1;
  for (int i = 0; i < digits; ++i) scale *= 10;
  return static_cast<double>(static_cast<int64_t>(v * scale + (v >= 0 ? 0.5 : -0.5))) / scale;
}

inline double seconds_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace sabla::load
