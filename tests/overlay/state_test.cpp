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

SCENARIO("a poll on air serialises with or without its results", "[poll]") {
  State state;
  AiredPoll p;
  p.id = 4;
  p.question_ar = "ما رأيك؟ & <b>";
  p.options = {{"نعم", "Yes", 7}, {"لا", "", 3}};
  p.total = 10;
  GIVEN("a poll whose results are public") {
    state.poll = p;
    const auto j = to_json(state);
    THEN("votes and total are there and the round trip is exact") {
      CHECK(j["poll"]["total"] == 10);
      CHECK(j["poll"]["options"][0]["votes"] == 7);
      CHECK(j["poll"]["question_ar"] == "ما رأيك؟ & <b>");
      State back;
      std::string why;
      REQUIRE(from_json(j, &back, &why));
      CHECK(back == state);
    }
  }
  GIVEN("a poll whose results are not public yet") {
    p.results = false;
    p.total = 0;
    for (auto& o : p.options) o.votes = 0;
    state.poll = p;
    const auto j = to_json(state);
    THEN("no count leaves the server, and it reads back without results") {
      CHECK_FALSE(j["poll"].contains("total"));
      CHECK_FALSE(j["poll"]["options"][0].contains("votes"));
      State back;
      std::string why;
      REQUIRE(from_json(j, &back, &why));
      CHECK_FALSE(back.poll->results);
      CHECK(back == state);
    }
  }
  GIVEN("no poll") {
    THEN("poll is null") { CHECK(to_json(state)["poll"].is_null()); }
  }
  GIVEN("bad polls") {
    using nlohmann::json;
    State back;
    std::string why;
    const json two = json::array({json{{"ar", "a"}}, json{{"ar", "b"}}});
    CHECK_FALSE(from_json(json{{"poll", {{"id", "x"}, {"options", two}}}}, &back, &why));
    CHECK_FALSE(from_json(json{{"poll", {{"id", 1}, {"options", json::array({json{{"ar", "a"}}})}}}}, &back, &why));
    CHECK_FALSE(from_json(json{{"poll", {{"id", 1}, {"status", "draft"}, {"options", two}}}}, &back, &why));
    CHECK_FALSE(from_json(json{{"poll", {{"id", 1}, {"total", -1}, {"options", two}}}}, &back, &why));
    CHECK_FALSE(why.empty());
  }
  GIVEN("the helpers both drawings use") {
    THEN("percentages round half up and never divide by zero") {
      CHECK(poll_percent(1, 3) == 33);
      CHECK(poll_percent(2, 3) == 67);
      CHECK(poll_percent(1, 8) == 13);  // 12.5
      CHECK(poll_percent(5, 0) == 0);
      CHECK(poll_percent(10, 10) == 100);
    }
    THEN("the footer and labels follow the poll's language") {
      CHECK(poll_footer(p) == "عدد الأصوات: 10");
      p.status = "closed";
      CHECK(poll_footer(p) == "النتيجة النهائية · عدد الأصوات: 10");
      CHECK(poll_label(p, p.options[1]) == "لا");
      p.question_ar.clear();
      p.question_en = "Your view?";
      CHECK(poll_footer(p) == "Final result · Votes: 10");
      CHECK(poll_label(p, p.options[0]) == "Yes");
      CHECK(poll_label(p, p.options[1]) == "لا");  // no English label: the Arabic one
    }
  }
}
