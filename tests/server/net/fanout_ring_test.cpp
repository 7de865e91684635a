// The fan-out ring and the coalesced batch, without sockets.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "net/fanout_ring.h"

using sabla::net::CoalescedBatch;
using sabla::net::FanoutRing;

SCENARIO("the fan-out ring keeps the newest frames and numbers them for good") {
  FanoutRing ring(3);
  REQUIRE(ring.begin() == 0);
  REQUIRE(ring.end() == 0);
  for (int i = 0; i < 5; ++i) ring.push("{\"n\":" + std::to_string(i) + "}");
  // Capacity 3: 0 and 1 fell off; sequence numbers do not restart.
  REQUIRE(ring.begin() == 2);
  REQUIRE(ring.end() == 5);
  REQUIRE_FALSE(ring.holds(1));
  REQUIRE(ring.holds(2));
  REQUIRE(ring.at(4) == "{\"n\":4}");
}

SCENARIO("a client gets what it has not seen as one frame") {
  FanoutRing ring(16);
  CoalescedBatch batch;
  ring.push("{\"a\":1}");
  uint64_t to = 0;

  SECTION("one message goes as it is") {
    REQUIRE(batch.next(ring, 0, &to) == "{\"a\":1}");
    REQUIRE(to == 1);
  }
  SECTION("several go as a batch, in order, and clients at the same place share it") {
    ring.push("{\"b\":2}");
    ring.push("{\"c\":3}");
    const std::string* first = &batch.next(ring, 0, &to);
    REQUIRE(to == 3);
    auto parsed = nlohmann::json::parse(*first);
    REQUIRE(parsed["type"] == "batch");
    REQUIRE(parsed["items"] == nlohmann::json::parse(R"([{"a":1},{"b":2},{"c":3}])"));
    uint64_t to2 = 0;
    REQUIRE(&batch.next(ring, 0, &to2) == first);  // the same built string
    REQUIRE(to2 == 3);
    REQUIRE(batch.next(ring, 1, &to2) == R"({"type":"batch","items":[{"b":2},{"c":3}]})");
  }
  SECTION("a long backlog is cut at the batch size and continues where it stopped") {
    const std::string big = "{\"x\":\"" + std::string(10 * 1024, 'x') + "\"}";
    for (int i = 0; i < 5; ++i) ring.push(big);
    uint64_t at = 0;
    size_t frames = 0;
    size_t items = 0;
    while (at < ring.end()) {
      const std::string& frame = batch.next(ring, at, &at);
      REQUIRE(frame.size() <= CoalescedBatch::kMaxBytes + 64);
      auto parsed = nlohmann::json::parse(frame);
      items += parsed.contains("items") ? parsed["items"].size() : 1;
      ++frames;
    }
    REQUIRE(items == 6);
    REQUIRE(frames >= 2);
  }
}
