#include "moderation/rate_limiter.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>

using sabla::moderation::TokenBucket;

namespace {
constexpr int64_t kT0 = 5'000'000;  // an arbitrary steady-clock reading
}

SCENARIO("a token bucket allows a burst, then refuses with a useful retry time", "[rate]") {
  GIVEN("a bucket of 3 refilling 1 token per second") {
    TokenBucket bucket(3, 1, kT0);
    THEN("it starts full") { CHECK(bucket.available(kT0) == Approx(3)); }

    WHEN("3 takes happen at once") {
      int64_t retry = -1;
      CHECK(bucket.try_take(kT0, &retry));
      CHECK(retry == 0);
      CHECK(bucket.try_take(kT0));
      CHECK(bucket.try_take(kT0));
      THEN("the 4th is refused and told to wait a full second") {
        retry = -1;
        CHECK_FALSE(bucket.try_take(kT0, &retry));
        CHECK(retry == 1000);
        CHECK(bucket.available(kT0) == Approx(0).margin(1e-9));
      }
      THEN("the wait shrinks as time passes") {
        retry = -1;
        CHECK_FALSE(bucket.try_take(kT0 + 400, &retry));
        CHECK(retry == 600);
      }
      THEN("one ms early is refused, on time succeeds") {
        CHECK_FALSE(bucket.try_take(kT0 + 999));
        CHECK(bucket.try_take(kT0 + 1000));
        CHECK_FALSE(bucket.try_take(kT0 + 1000));
      }
      THEN("a refusal without a retry pointer is fine") { CHECK_FALSE(bucket.try_take(kT0)); }
    }
  }

  GIVEN("a bucket of 2 refilling 4 tokens per second") {
    TokenBucket bucket(2, 4, kT0);
    REQUIRE(bucket.try_take(kT0));
    REQUIRE(bucket.try_take(kT0));
    WHEN("time passes") {
      THEN("tokens come back at the configured rate") {
        CHECK(bucket.available(kT0 + 125) == Approx(0.5));
        CHECK(bucket.available(kT0 + 250) == Approx(1));
        CHECK(bucket.available(kT0 + 500) == Approx(2));
      }
      THEN("they never exceed the burst") {
        CHECK(bucket.available(kT0 + 60'000) == Approx(2));
        CHECK(bucket.try_take(kT0 + 60'000));
        CHECK(bucket.try_take(kT0 + 60'000));
        CHECK_FALSE(bucket.try_take(kT0 + 60'000));
      }
      THEN("a partial refill is kept across a refusal") {
        int64_t retry = 0;
        CHECK_FALSE(bucket.try_take(kT0 + 100, &retry));  // 0.4 tokens
        CHECK(retry == 150);
        CHECK(bucket.try_take(kT0 + 250));
      }
      THEN("available() does not consume or move the bucket") {
        CHECK(bucket.available(kT0 + 250) == Approx(1));
        CHECK(bucket.available(kT0 + 250) == Approx(1));
        CHECK(bucket.try_take(kT0 + 250));
        CHECK(bucket.available(kT0 + 250) == Approx(0).margin(1e-9));
      }
    }
  }
}

TEST_CASE("the retry time is always enough, never too much", "[rate]") {
  // Rates that do not divide 1000 ms evenly are where rounding bites.
  for (double rate : {3.0, 7.0, 0.3, 0.7, 1.5, 13.0, 1000.0 / 3}) {
    INFO("rate = " << rate);
    TokenBucket bucket(1, rate, kT0);
    REQUIRE(bucket.try_take(kT0));
    int64_t now = kT0;
    for (int i = 0; i < 50; ++i) {
      int64_t retry = 0;
      REQUIRE_FALSE(bucket.try_take(now, &retry));
      REQUIRE(retry >= 1);
      CHECK_FALSE(bucket.try_take(now + retry - 1));  // one ms early is too early
      REQUIRE(bucket.try_take(now + retry));
      now += retry;
    }
  }
}

TEST_CASE("polling every millisecond does not delay the promised token", "[rate]") {
  // Thousands of tiny refills round differently from the one big step the
  // retry estimate is computed with; at 0.1/s (one comment per 10 s) exact
  // comparison refuses the promised token.
  for (double rate : {0.1, 0.25, 0.3, 0.7, 3.0, 7.0}) {
    INFO("rate = " << rate);
    TokenBucket bucket(1, rate, kT0);
    REQUIRE(bucket.try_take(kT0));
    int64_t now = kT0;
    for (int round = 0; round < 3; ++round) {
      int64_t retry = 0;
      REQUIRE_FALSE(bucket.try_take(now, &retry));
      for (int64_t t = now + 1; t < now + retry; ++t) REQUIRE_FALSE(bucket.try_take(t));
      REQUIRE(bucket.try_take(now + retry));
      now += retry;
    }
  }
}

TEST_CASE("a steady stream at the refill rate is allowed indefinitely", "[rate]") {
  TokenBucket bucket(1, 2, kT0);  // one message each 500 ms
  for (int i = 0; i < 100; ++i) CHECK(bucket.try_take(kT0 + 500 * int64_t{i}));
  CHECK_FALSE(bucket.try_take(kT0 + 500 * 99 + 10));
}

TEST_CASE("token bucket edge cases", "[rate]") {
  SECTION("a clock reading older than the last does not refill twice") {
    TokenBucket bucket(1, 1, kT0);
    REQUIRE(bucket.try_take(kT0 + 1000));  // bucket was full, now empty at +1000
    int64_t retry = 0;
    CHECK_FALSE(bucket.try_take(kT0 + 500, &retry));
    CHECK(retry == 1500);  // 500 ms to catch up with +1000, then 1000 ms to refill
    CHECK_FALSE(bucket.try_take(kT0 + 1999));
    CHECK(bucket.try_take(kT0 + 2000));
  }
  SECTION("a bucket that can never hold a token refuses with the longest wait") {
    int64_t retry = 0;
    TokenBucket zero(0, 5, kT0);
    CHECK_FALSE(zero.try_take(kT0 + 100'000, &retry));
    CHECK(retry == std::numeric_limits<int64_t>::max());
    TokenBucket no_refill(1, 0, kT0);
    CHECK(no_refill.try_take(kT0));
    CHECK_FALSE(no_refill.try_take(kT0 + 100'000'000, &retry));
    CHECK(retry == std::numeric_limits<int64_t>::max());
  }
  SECTION("fractional bursts hold whole tokens only") {
    TokenBucket bucket(1.5, 1, kT0);
    CHECK(bucket.try_take(kT0));
    CHECK_FALSE(bucket.try_take(kT0));
    int64_t retry = 0;
    CHECK_FALSE(bucket.try_take(kT0, &retry));
    CHECK(retry == 500);
  }
  SECTION("extreme clock readings do not overflow") {
    TokenBucket bucket(2, 1, std::numeric_limits<int64_t>::min());
    CHECK(bucket.try_take(std::numeric_limits<int64_t>::max()));
    CHECK(bucket.available(std::numeric_limits<int64_t>::max()) == Approx(1));
  }
}
