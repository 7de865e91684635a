#include <catch2/catch.hpp>

#include "sabla/overlay/state.h"

using namespace sabla::overlay;

SCENARIO("the on-air state serialises for clients and restores from JSON") {
  State state;
  GIVEN("nothing on air") {
    auto j = to_json(state);
    THEN("no comments, no lower third, no ticker, the default theme") {
      CHECK(j["comments"].empty());
      CHECK(j["lower_third"].is_null());
      CHECK(j["ticker"].is_null());
      CHECK(j["theme"]["name"] == "default");
      CHECK(j["theme"]["position"] == "bottom");
    }
  }
  GIVEN("an Arabic comment, a lower third and a ticker") {
    state.comments.push_back(AiredComment{7, "سالم", "شكرا & <b>", "rtl", "x", 1234});
    LowerThird l;
    l.name_ar = "معالي الوزير";
    state.lower_third = l;
    state.ticker = "أخبار";
    auto j = to_json(state);
    THEN("text is carried verbatim and the round trip is exact") {
      CHECK(j["comments"][0]["text"] == "شكرا & <b>");
      CHECK(j["comments"][0]["source"] == "x");
      State back;
      std::string why;
      REQUIRE(from_json(j, &back, &why));
      CHECK(back == state);
    }
  }
  GIVEN("bad JSON") {
    std::string why;
    State back;
    CHECK_FALSE(from_json(nlohmann::json{{"comments", {{{"id", "x"}}}}}, &back, &why));
    CHECK_FALSE(from_json(nlohmann::json{{"comments", {{{"id", 1}, {"dir", "up"}}}}}, &back, &why));
    CHECK_FALSE(from_json(nlohmann::json::array(), &back, &why));
    CHECK_FALSE(why.empty());
  }
}
