// Poll rules without sockets: what poll_create accepts, ballots, counts,
// and what the public sees under each results setting.
#include <catch2/catch.hpp>

#include "moderation/polls.h"

using namespace sabla::moderation;
using nlohmann::json;

namespace {

json create_msg() {
  return json{{"type", "poll_create"},
              {"question_ar", "ما أولويتك؟"},
              {"question_en", "Your priority?"},
              {"options", json::array({json{{"ar", "الطرق"}, {"en", "Roads"}}, json{{"ar", "المدارس"}},
                                       json{{"en", "Parks"}}})}};
}

Poll open_poll(const std::string& results = "live", bool multiple = false) {
  json m = create_msg();
  m["results"] = results;
  m["multiple"] = multiple;
  auto spec = parse_poll_spec(m);
  REQUIRE(spec.is_ok());
  Poll p;
  p.id = 3;
  p.session_id = 1;
  p.spec = *spec;
  p.status = "open";
  p.counts.assign(p.spec.options.size(), 0);
  return p;
}

std::vector<int> ballot(const Poll& p, const json& options, const char** error = nullptr) {
  std::vector<int> out;
  std::string why;
  auto e = check_ballot(p, options, &out, &why);
  if (error) *error = e ? *e : nullptr;
  return out;
}

}  // namespace

SCENARIO("poll_create is validated", "[polls]") {
  THEN("a well-formed poll parses with its defaults") {
    auto spec = parse_poll_spec(create_msg());
    REQUIRE(spec.is_ok());
    CHECK(spec->options.size() == 3);
    CHECK(spec->options[1].en.empty());
    CHECK_FALSE(spec->multiple);
    CHECK(spec->max_choices == 1);
    CHECK(spec->results == "live");
    CHECK_FALSE(spec->session_id);
  }
  THEN("multiple choice defaults to every option, and max_choices is bounded") {
    json m = create_msg();
    m["multiple"] = true;
    CHECK(parse_poll_spec(m)->max_choices == 3);
    m["max_choices"] = 2;
    CHECK(parse_poll_spec(m)->max_choices == 2);
    m["max_choices"] = 4;
    CHECK_FALSE(parse_poll_spec(m).is_ok());
    m["multiple"] = false;
    m["max_choices"] = 2;
    CHECK_FALSE(parse_poll_spec(m).is_ok());
  }
  THEN("texts are sanitized and cut") {
    json m = create_msg();
    m["question_ar"] = "سؤال\n\u202eمقلوب\u200b " + std::string(400, 'x');
    auto spec = parse_poll_spec(m);
    REQUIRE(spec.is_ok());
    CHECK(spec->question_ar.find('\n') == std::string::npos);
    CHECK(spec->question_ar.find("\u202e") == std::string::npos);
    CHECK(spec->question_ar.size() <= 300 * 4);
  }
  THEN("bad polls are refused with invalid") {
    std::vector<json> bad;
    json m = create_msg();
    m["options"] = json::array({json{{"ar", "وحيد"}}});
    bad.push_back(m);
    m["options"] = json::array();
    for (int i = 0; i < 7; ++i) m["options"].push_back(json{{"ar", std::to_string(i)}});
    bad.push_back(m);
    m = create_msg();
    m["options"][0] = json{{"ar", ""}, {"en", "  "}};
    bad.push_back(m);
    m = create_msg();
    m.erase("question_ar");
    m["question_en"] = "";
    bad.push_back(m);
    m = create_msg();
    m["results"] = "sometimes";
    bad.push_back(m);
    m = create_msg();
    m["question_ar"] = std::string("\xff\xfe");
    bad.push_back(m);
    m = create_msg();
    m["options"][0] = "الطرق";
    bad.push_back(m);
    for (const json& b : bad) {
      INFO(b.dump(-1, ' ', false, json::error_handler_t::replace));
      auto r = parse_poll_spec(b);
      REQUIRE_FALSE(r.is_ok());
      CHECK(r.status().code() == "invalid");
    }
  }
}

SCENARIO("ballots: one per viewer, the last one counts", "[polls]") {
  Poll p = open_poll();
  p.cast(7, {{0}, "10.0.0.1"});
  p.cast(8, {{1}, "10.0.0.1"});
  CHECK(p.total == 2);
  CHECK(p.counts == std::vector<int64_t>{1, 1, 0});
  CHECK(p.ballots_per_ip.at("10.0.0.1") == 2);
  WHEN("viewer 7 votes again") {
    auto previous = p.cast(7, {{2}, "10.0.0.2"});
    THEN("their earlier ballot is replaced, not added") {
      CHECK(p.total == 2);
      CHECK(p.counts == std::vector<int64_t>{0, 1, 1});
      CHECK(p.ballots_per_ip.at("10.0.0.1") == 1);
      REQUIRE(previous);
      CHECK(previous->options == std::vector<int>{0});
    }
    THEN("a failed commit puts the earlier ballot back") {
      p.restore(7, previous);
      CHECK(p.counts == std::vector<int64_t>{1, 1, 0});
      CHECK(p.ballot_of(7)->options == std::vector<int>{0});
      CHECK(p.ballots_per_ip.count("10.0.0.2") == 0);
    }
  }
  WHEN("a first ballot fails to commit") {
    auto previous = p.cast(9, {{2}, "10.0.0.3"});
    p.restore(9, previous);
    THEN("the viewer has no ballot") {
      CHECK(p.ballot_of(9) == nullptr);
      CHECK(p.total == 2);
    }
  }
}

SCENARIO("a ballot must fit the poll", "[polls]") {
  const char* error = nullptr;
  GIVEN("a single-choice poll") {
    Poll p = open_poll();
    CHECK(ballot(p, json::array({1}), &error) == std::vector<int>{1});
    CHECK(error == nullptr);
    for (const json& bad : {json::array(), json::array({0, 1}), json::array({3}), json::array({-1}),
                            json::array({"0"}), json(1), json::array({1.5})}) {
      INFO(bad.dump());
      ballot(p, bad, &error);
      CHECK(error == std::string("invalid"));
    }
  }
  GIVEN("a multiple-choice poll with at most 2") {
    json m = create_msg();
    m["multiple"] = true;
    m["max_choices"] = 2;
    Poll p = open_poll();
    p.spec = *parse_poll_spec(m);
    CHECK(ballot(p, json::array({2, 0}), &error) == std::vector<int>{0, 2});
    ballot(p, json::array({0, 1, 2}), &error);
    CHECK(error == std::string("invalid"));
    ballot(p, json::array({1, 1}), &error);
    CHECK(error == std::string("invalid"));
  }
}

SCENARIO("the public sees counts only when the results setting allows", "[polls]") {
  for (const std::string results : {"live", "after_close", "hidden"}) {
    GIVEN("results " + results) {
      Poll p = open_poll(results);
      p.cast(7, {{0}, "a"});
      const bool public_open = results == "live";
      const bool public_closed = results != "hidden";
      THEN("while open") {
        const json viewer = p.to_json(false);
        CHECK(viewer.contains("total") == public_open);
        CHECK(viewer["options"][0].contains("votes") == public_open);
        CHECK(p.aired().results == public_open);
        CHECK(p.to_json(true)["total"] == 1);  // studios always
        CHECK(p.to_json(true)["options"][0]["votes"] == 1);
        CHECK_FALSE(viewer.contains("created_by"));
      }
      THEN("once closed") {
        p.status = "closed";
        CHECK(p.to_json(false).contains("total") == public_closed);
        CHECK(p.aired().results == public_closed);
        CHECK(p.aired().status == "closed");
        if (!public_closed) CHECK(p.aired().total == 0);
      }
    }
  }
  GIVEN("a draft") {
    Poll p = open_poll();
    p.status = "draft";
    THEN("even live results are not public") { CHECK_FALSE(p.results_public()); }
  }
}

SCENARIO("options are stored as JSON text and read back", "[polls]") {
  std::vector<PollChoice> options = {{"نعم", "Yes"}, {"لا \"\\", ""}};
  std::vector<PollChoice> back;
  REQUIRE(options_from_text(options_to_text(options), &back));
  REQUIRE(back.size() == 2);
  CHECK(back[1].ar == "لا \"\\");
  CHECK_FALSE(options_from_text("not json", &back));
  CHECK_FALSE(options_from_text("{}", &back));
}
