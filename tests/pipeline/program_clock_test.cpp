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
