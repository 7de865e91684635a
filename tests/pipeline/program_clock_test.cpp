#include <catch2/catch.hpp>

#include "sabla/pipeline/program_clock.h"

using sabla::pipeline::ProgramClock;

SCENARIO("the program clock gives offsets only while live") {
  ProgramClock clock;
  CHECK_FALSE(clock.offset_ms(1000).has_value());
  clock.start(10'000);
  CHECK(clock.offset_ms(12'500) == 2'500);
  CHECK(clock.offset_ms(9'000) == 0);  // clock skew clamps to the start
  clock.stop();
  CHECK_FALSE(clock.running());
  CHECK_FALSE(clock.offset_ms(12'500).has_value());
}

SCENARIO("the program clock follows the pipeline's running time once the recording opens") {
  ProgramClock clock;
  clock.start(10'000);
  GIVEN("the session went live and its recording is about to open") {
    clock.hold(0);
    THEN("offsets hold at the recording's start, whatever the wall clock says") {
      CHECK(clock.holding());
      CHECK(clock.offset_ms(10'040, 5'000) == 0);
      CHECK(clock.offset_ms(10'080) == 0);
    }
    WHEN("the recording file opens at running time 5,050 ms") {
      clock.anchor(5'050, 0);
      THEN("offsets are running time since the file opened, not wall time") {
        CHECK(clock.anchored());
        CHECK(clock.offset_ms(99'999, 5'050) == 0);
        CHECK(clock.offset_ms(99'999, 8'050) == 3'000);
        CHECK(clock.offset_ms(0, 5'000) == 0);  // a late-processed event never precedes the file
      }
      THEN("a pipeline that is down (no running time) continues on the wall clock, never behind the anchor") {
        CHECK(clock.offset_ms(25'000) == 15'000);
        CHECK(clock.offset_ms(10'001) == 1);
      }
    }
  }
  GIVEN("a session that continues after a server restart 60 s after it went live") {
    clock.hold(60'000);
    CHECK(clock.offset_ms(70'000, 100) == 60'000);
    clock.anchor(120, 60'000);
    THEN("its new recording file continues the timeline where the wall clock says") {
      CHECK(clock.offset_ms(0, 1'120) == 61'000);
      AND_THEN("while the pipeline is down the wall clock never takes it behind its anchor") {
        CHECK(clock.offset_ms(65'000) == 60'000);
      }
    }
  }
  WHEN("the session ends") {
    clock.anchor(0, 0);
    clock.stop();
    THEN("nothing is live and a new session starts from the wall clock again") {
      CHECK_FALSE(clock.anchored());
      CHECK_FALSE(clock.offset_ms(1'000, 1'000).has_value());
      clock.start(2'000);
      CHECK(clock.offset_ms(3'000, 999'000) == 1'000);
    }
  }
}
