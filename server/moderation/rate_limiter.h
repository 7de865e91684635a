// Token bucket. Owned by the net thread (one per viewer, one per IP); no locks.
#pragma once
#include <cstdint>

namespace sabla::moderation {

class TokenBucket {
 public:
  // `burst` tokens at most; refills `per_second` tokens each second.
  TokenBucket(double burst, double per_second, int64_t now_steady_ms);
  // Takes one token if available. Otherwise returns false and sets
  // `retry_after_ms` to the wait until one token is available.
  bool try_take(int64_t now_steady_ms, int64_t* retry_after_ms = nullptr);
  double available(int64_t now_steady_ms) const;

 private:
  void refill(int64_t now_steady_ms);
  double burst_;
  double per_ms_;
  double tokens_;
  int64_t last_ms_;
};

}  // namespace sabla::moderation
