#include "moderation/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace sabla::moderation {

namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

// A token this close to whole counts as whole. Refills arrive in many small
// steps whose rounding does not add up to the single step the retry estimate
// was computed with; without slack, asking again after exactly
// `retry_after_ms` could be refused for 1e-16 of a token.
constexpr double kWhole = 1 - 1e-9;

// Unsigned subtraction cannot overflow, whatever the two clock readings are.
double elapsed_ms(int64_t from, int64_t to) {
  return static_cast<double>(static_cast<uint64_t>(to) - static_cast<uint64_t>(from));
}

// The one formula both refill() and available() use, so that a retry at
// exactly `retry_after_ms` sees the same arithmetic the estimate was made with.
double refilled(double tokens, double burst, double per_ms, double dt_ms) {
  if (dt_ms <= 0 || per_ms <= 0) return tokens;
  return std::min(burst, tokens + dt_ms * per_ms);
}

}  // namespace

TokenBucket::TokenBucket(double burst, double per_second, int64_t now_steady_ms)
    // NaN and negative settings mean "no tokens" / "no refill" rather than
    // arithmetic that poisons every later comparison.
    : burst_(burst >= 0 ? burst : 0),
      per_ms_(per_second > 0 ? per_second / 1000.0 : 0),
      tokens_(burst_),
      last_ms_(now_steady_ms) {}

void TokenBucket::refill(int64_t now_steady_ms) {
  // A reading older than the last one (callers racing to read the clock)
  // must not move the bucket back in time and grant the same interval twice.
  if (now_steady_ms <= last_ms_) return;
  tokens_ = refilled(tokens_, burst_, per_ms_, elapsed_ms(last_ms_, now_steady_ms));
  last_ms_ = now_steady_ms;
}

bool TokenBucket::try_take(int64_t now_steady_ms, int64_t* retry_after_ms) {
  refill(now_steady_ms);
  if (tokens_ >= kWhole) {
    tokens_ = std::max(0.0, tokens_ - 1);
    if (retry_after_ms) *retry_after_ms = 0;
    return true;
  }
  if (!retry_after_ms) return false;
  if (burst_ < kWhole || per_ms_ <= 0) {
    // The bucket can never hold a whole token.
    *retry_after_ms = kNever;
    return false;
  }
  double wait = std::ceil((kWhole - tokens_) / per_ms_);
  // The division and the refill multiply round differently; settle on the
  // smallest whole wait that the refill formula itself accepts.
  for (int k = 0; k < 4 && refilled(tokens_, burst_, per_ms_, wait) < kWhole; ++k) wait += 1;
  for (int k = 0; k < 4 && wait > 1 && refilled(tokens_, burst_, per_ms_, wait - 1) >= kWhole; ++k) {
    wait -= 1;
  }
  if (!(wait < 9e18)) {
    *retry_after_ms = kNever;
    return false;
  }
  int64_t result = static_cast<int64_t>(wait);
  // A stale `now` (see refill) is further from the refill than it thinks.
  if (now_steady_ms < last_ms_) {
    const double behind = elapsed_ms(now_steady_ms, last_ms_);
    result = behind + wait < 9e18 ? static_cast<int64_t>(behind + wait) : kNever;
  }
  *retry_after_ms = result;
  return false;
}

double TokenBucket::available(int64_t now_steady_ms) const {
  if (now_steady_ms <= last_ms_) return tokens_;
  return refilled(tokens_, burst_, per_ms_, elapsed_ms(last_ms_, now_steady_ms));
}

}  // namespace sabla::moderation
