#include <catch2/catch.hpp>

#include "sabla/overlay/state.h"

using namespace sabla::overlay;

SCENARIO("the on-air state serialises for clients") {
  State state;
  GIVEN("nothing on air") {
    auto j = to_json(state);
    THEN("comment is null and the theme is set") {
      CHECK(j["comment"].is_null());
      CHECK(j["theme"] == "default");
    }
  }
  GIVEN("an Arabic comment on air") {
    state.comment = OnAirComment{7, "سالم", "شكرا & <b>", "rtl"};
    auto j = to_json(state);
    THEN("its text is carried verbatim") {
      CHECK(j["comment"]["id"] == 7);
      CHECK(j["comment"]["text"] == "شكرا & <b>");
      CHECK(j["comment"]["dir"] == "rtl");
    }
  }
}
