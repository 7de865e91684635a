#include <catch2/catch.hpp>

#include "sabla/overlay/on_air.h"

using namespace sabla::overlay;

namespace {
AiredComment comment(int64_t id, const std::string& text = "نص") { return AiredComment{id, "سالم", text, "rtl", "web", 0}; }
std::vector<std::string> kinds(const std::vector<OnAirEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.kind + ":" + (e.comment_id ? std::to_string(*e.comment_id) : "-"));
  return out;
}
}  // namespace

SCENARIO("air replaces, add stacks, clear empties", "[on_air]") {
  OnAir air;
  CHECK(kinds(air.air(comment(1), 1000)) == std::vector<std::string>{"aired:1"});
  CHECK(air.state().comments.at(0).aired_at_ms == 1000);
  CHECK(air.air(comment(1), 1100).empty());  // already on screen alone
  CHECK(kinds(air.air(comment(2), 2000)) == std::vector<std::string>{"replaced:1", "aired:2"});
  air.air(comment(3), 3000, true);
  air.air(comment(4), 4000, true);
  CHECK(air.state().comments.size() == 3);
  CHECK(kinds(air.air(comment(5), 5000, true)) == std::vector<std::string>{"replaced:2", "aired:5"});
  CHECK(air.state().comments.front().id == 3);
  const int64_t v = air.version();
  CHECK(kinds(air.clear(6000)) == std::vector<std::string>{"cleared:3", "cleared:4", "cleared:5"});
  CHECK(air.state().comments.empty());
  CHECK(air.version() == v + 1);
  CHECK(air.clear(7000).empty());
}

SCENARIO("the rotation shows each item for its time, then clears", "[on_air]") {
  OnAir air;
  std::vector<OnAirEvent> events;
  REQUIRE(air.queue_air(comment(1), 5000, 0, &events));
  CHECK(kinds(events) == std::vector<std::string>{"aired:1"});
  events.clear();
  REQUIRE(air.queue_air(comment(2), 3000, 1000, &events));
  CHECK(events.empty());  // waits its turn
  CHECK(air.rotation().size() == 1);
  CHECK(air.tick(4999).empty());
  CHECK(kinds(air.tick(5000)) == std::vector<std::string>{"replaced:1", "aired:2"});
  CHECK(air.state().comments.at(0).aired_at_ms == 5000);
  CHECK(air.rotation_until_ms() == 8000);
  auto last = air.tick(20'000);  // a late tick still ends at the right time
  REQUIRE(kinds(last) == std::vector<std::string>{"cleared:2"});
  CHECK(last[0].at_ms == 8000);
  CHECK_FALSE(air.rotation_until_ms().has_value());

  WHEN("a manual air comes during a rotation") {
    std::vector<OnAirEvent> e;
    air.queue_air(comment(7), 5000, 30'000, &e);
    air.queue_air(comment(8), 5000, 30'000, &e);
    air.air(comment(9), 31'000);
    THEN("it stops the rotation and stays") {
      CHECK(air.rotation().empty());
      CHECK(air.tick(100'000).empty());
      CHECK(air.state().comments.at(0).id == 9);
    }
  }
}

SCENARIO("moderation follows to the screen", "[on_air]") {
  OnAir air;
  std::vector<OnAirEvent> e;
  air.queue_air(comment(1), 5000, 0, &e);
  air.queue_air(comment(2), 5000, 0, &e);
  air.queue_air(comment(3), 5000, 0, &e);
  CHECK(kinds(air.remove_comment(2, 100)).empty());  // only in the rotation
  CHECK(air.rotation().size() == 1);
  CHECK(kinds(air.update_text(1, "edited", 200)) == std::vector<std::string>{"edited:1"});
  CHECK(air.state().comments.at(0).text == "edited");
  // Hiding what is on screen brings the next item at once.
  CHECK(kinds(air.remove_comment(1, 300)) == std::vector<std::string>{"cleared:1", "aired:3"});
  CHECK(air.rotation_until_ms() == 5300);
}

SCENARIO("lower third, ticker and theme", "[on_air]") {
  OnAir air;
  LowerThird l;
  l.name_ar = "معالي الوزير";
  l.title_en = "Minister of Transport";
  CHECK(kinds(air.set_lower_third(l, 1)) == std::vector<std::string>{"lower_third:-"});
  CHECK(air.set_lower_third(l, 2).empty());
  CHECK(kinds(air.set_lower_third(LowerThird{}, 3)) == std::vector<std::string>{"lower_third_cleared:-"});
  CHECK(kinds(air.set_ticker(std::string("أهلا"), 4)) == std::vector<std::string>{"ticker:-"});
  CHECK(kinds(air.set_ticker(std::string(""), 5)) == std::vector<std::string>{"ticker_cleared:-"});
  Theme t = *Theme::preset("dark");
  CHECK(kinds(air.set_theme(t, 6)) == std::vector<std::string>{"theme:-"});
  CHECK(air.state().theme.name == "dark");
}

SCENARIO("save and restore keep state, rotation and timer", "[on_air]") {
  OnAir air;
  std::vector<OnAirEvent> e;
  air.queue_air(comment(1, "أول & <b>"), 5000, 0, &e);
  air.queue_air(comment(2), 7000, 0, &e);
  air.set_ticker(std::string("tick"), 1);
  OnAir back;
  std::string why;
  REQUIRE(back.restore(air.save(), &why));
  CHECK(back.state() == air.state());
  CHECK(back.version() == air.version());
  CHECK(back.rotation_until_ms() == 5000);
  REQUIRE(back.rotation().size() == 1);
  CHECK(back.rotation()[0].hold_ms == 7000);
  CHECK(kinds(back.tick(5000)) == std::vector<std::string>{"replaced:1", "aired:2"});
  CHECK_FALSE(back.restore(nlohmann::json{{"state", {{"comments", "nope"}}}}, &why));
}

SCENARIO("themes are validated", "[on_air]") {
  Theme t;
  std::string why;
  CHECK(apply_theme({{"preset", "light"}, {"position", "top"}, {"font_size", 48}}, &t, &why));
  CHECK(t.name == "light");
  CHECK(t.position == "top");
  CHECK(t.font_size == 48);
  Theme before = t;
  CHECK_FALSE(apply_theme({{"position", "middle"}}, &t, &why));
  CHECK_FALSE(apply_theme({{"text_color", "red"}}, &t, &why));
  CHECK_FALSE(apply_theme({{"font_family", "x; } body { display:none"}}, &t, &why));
  CHECK_FALSE(apply_theme({{"font_size", 9999}}, &t, &why));
  CHECK_FALSE(apply_theme({{"colour", "#fff"}}, &t, &why));
  CHECK(t == before);  // a refused change leaves everything as it was
  double r, g, b, a;
  REQUIRE(parse_color("#ff000080", &r, &g, &b, &a));
  CHECK(r == Approx(1.0));
  CHECK(a == Approx(128 / 255.0));
}

SCENARIO("a poll goes on air, follows its counts and comes off", "[on_air][poll]") {
  OnAir air;
  AiredPoll p;
  p.id = 5;
  p.question_ar = "سؤال";
  p.options = {{"أ", "", 0}, {"ب", "", 0}};
  auto poll_kinds = [](const std::vector<OnAirEvent>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.kind + ":" + std::to_string(e.detail.value("poll", int64_t{0})));
    return out;
  };
  CHECK(poll_kinds(air.air_poll(p, 1000)) == std::vector<std::string>{"poll_aired:5"});
  CHECK(air.poll_on_screen() == 5);
  const int64_t v = air.version();
  WHEN("votes come in") {
    p.options[0].votes = 3;
    p.total = 3;
    THEN("the state follows without an on-air event; the same counts change nothing") {
      CHECK(air.update_poll(p));
      CHECK(air.state().poll->total == 3);
      CHECK(air.version() == v + 1);
      CHECK_FALSE(air.update_poll(p));
      CHECK(air.air_poll(p, 1500).empty());  // aired again: no event
    }
    THEN("another poll's counts do not touch it") {
      AiredPoll other = p;
      other.id = 6;
      CHECK_FALSE(air.update_poll(other));
      CHECK(air.state().poll->total == 0);
    }
  }
  WHEN("another poll is aired") {
    AiredPoll other = p;
    other.id = 6;
    THEN("the first leaves, the second comes") {
      CHECK(poll_kinds(air.air_poll(other, 2000)) == std::vector<std::string>{"poll_cleared:5", "poll_aired:6"});
    }
  }
  WHEN("the screen is cleared of comments") {
    air.air(comment(1), 2000);
    air.clear(3000);
    THEN("the poll stays") { CHECK(air.poll_on_screen() == 5); }
  }
  WHEN("it is taken off and the state restored after a restart") {
    OnAir restored;
    std::string why;
    REQUIRE(restored.restore(air.save(), &why));
    CHECK(restored.state() == air.state());
    CHECK(poll_kinds(air.clear_poll(4000)) == std::vector<std::string>{"poll_cleared:5"});
    CHECK_FALSE(air.poll_on_screen());
    CHECK(air.clear_poll(5000).empty());
  }
}
