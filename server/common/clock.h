// Injectable time source. The net thread reads it for receive times, rate
// limits, slow mode and bans; tests drive a ManualClock instead of sleeping.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>

namespace sabla {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock UTC milliseconds since the Unix epoch (stored in rows).
  virtual int64_t now_ms() const = 0;
  // Monotonic milliseconds (for intervals: rate limits, latencies).
  virtual int64_t steady_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t now_ms() const override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  }
  int64_t steady_ms() const override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
  }
};

// Tests: time moves only when told to.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ms = 1'700'000'000'000) : now_(start_ms), steady_(0) {}
  int64_t now_ms() const override { return now_.load(); }
  int64_t steady_ms() const override { return steady_.load(); }
  void advance(int64_t ms) {
    now_ += ms;
    steady_ += ms;
  }

 private:
  std::atomic<int64_t> now_;
  std::atomic<int64_t> steady_;
};

}  // namespace sabla
