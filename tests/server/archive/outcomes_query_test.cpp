// The decision report's read (archive::outcomes): a session's polls with
// their counts and percentages, and its answered questions with their
// outcome, from a real SQLite file written through the real Store.
#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "archive/queries.h"
#include "support/server_process.h"
#include "support/store_helpers.h"
#include "store/archive_reader.h"
#include "store/store.h"

using namespace sabla;
using namespace sabla::store;
using nlohmann::json;

namespace {

constexpr int64_t kLiveAt = 1'764'400'000'000;

struct Fixture {
  test::TempDir dir{"sabla-outcomes-query"};
  std::string db = dir.path() + "/sabla.db";
  int64_t session = 0;
  int64_t other = 0;
  int64_t poll = 0;
  int64_t answered = 0;
  int64_t unanswered = 0;
  int64_t rejected = 0;

  template <class R, class Call>
  R await(Store& store, Call call) {
    return test::await_store<R>(store, std::move(call));
  }

  int64_t add_session(Store& store, const char* title) {
    SessionRow s;
    s.title_ar = "جلسة";
    s.title_en = title;
    s.status = "live";
    s.created_at_ms = kLiveAt - 60'000;
    s.live_at_ms = kLiveAt;
    return await<Result<SessionRow>>(store, [&](auto cb) { return store.create_session(s, cb); })->id;
  }

  int64_t add_comment(Store& store, int64_t in, const char* text, CommentStatus status) {
    CommentRow c;
    c.session_id = in;
    c.display_name = "مريم";
    c.text = text;
    c.lang = "ar";
    c.direction = "rtl";
    c.source = "web";
    c.received_at_ms = kLiveAt + 5000;
    auto r = await<Result<InsertedComment>>(store, [&](auto cb) { return store.insert_comment(c, std::nullopt, cb); });
    REQUIRE(r.is_ok());
    Decision d;
    d.comment_id = r->id;
    d.new_status = status;
    d.event.action = status == CommentStatus::approved ? "approve" : "reject";
    d.event.actor = "amal";
    d.event.at_ms = kLiveAt + 6000;
    REQUIRE(await<Status>(store, [&](auto cb) { return store.apply_decision(d, cb); }).is_ok());
    return r->id;
  }

  Fixture() {
    auto store = test::open_test_store(db);
    session = add_session(*store, "Budget hearing");
    other = add_session(*store, "Other");

    PollRow p;
    p.session_id = session;
    p.question_ar = "ما الأولوية؟";
    p.question_en = "What comes first?";
    p.options = R"([{"ar":"الطرق","en":"Roads"},{"ar":"المدارس","en":"Schools"},{"ar":"الصحة","en":"Health"}])";
    p.created_by = "producer";
    p.created_at_ms = kLiveAt + 1000;
    ModerationEvent ev;
    ev.action = "poll_create";
    ev.actor = "producer";
    ev.at_ms = p.created_at_ms;
    auto created = await<Result<PollRow>>(*store, [&](auto cb) { return store->create_poll(p, ev, cb); });
    REQUIRE(created.is_ok());
    poll = created->id;
    PollRow closed = *created;
    closed.status = "closed";
    closed.opened_at_ms = kLiveAt + 60'000;
    closed.closed_at_ms = kLiveAt + 120'000;
    ev.action = "poll_close";
    REQUIRE(await<Status>(*store, [&](auto cb) { return store->update_poll(closed, ev, cb); }).is_ok());
    // Viewer 3 changed their mind: only the last ballot counts. 2 of 3 for Schools.
    const std::pair<int64_t, const char*> ballots[] = {{1, "[0]"}, {2, "[1]"}, {3, "[0]"}, {3, "[1]"}};
    for (const auto& [viewer, options] : ballots) {
      PollBallotRow b{poll, viewer, options, "127.0.0.1", kLiveAt + 70'000};
      REQUIRE(await<Status>(*store, [&](auto cb) { return store->save_poll_ballot(b, cb); }).is_ok());
    }
    // A poll in another session must not leak into this one.
    PollRow elsewhere = p;
    elsewhere.session_id = other;
    ev.action = "poll_create";
    REQUIRE(await<Result<PollRow>>(*store, [&](auto cb) { return store->create_poll(elsewhere, ev, cb); }).is_ok());

    answered = add_comment(*store, session, "متى تُرصف الطريق؟", CommentStatus::approved);
    unanswered = add_comment(*store, session, "سؤال بلا جواب", CommentStatus::approved);
    rejected = add_comment(*store, session, "مرفوض", CommentStatus::rejected);
    // Two outcomes: the newest is the current one.
    for (const char* status : {"received", "accepted"}) {
      OutcomeRow o;
      o.comment_id = answered;
      o.status = status;
      o.note_ar = "سيُرصف الشهر القادم";
      o.note_en = "Paving next month";
      o.owner = "البلدية";
      o.due = "2026-01-31";
      o.actor = "producer";
      o.at_ms = kLiveAt + 200'000;
      REQUIRE(await<Result<OutcomeRow>>(*store, [&](auto cb) { return store->record_outcome(o, cb); }).is_ok());
    }
  }
};

}  // namespace

SCENARIO("the report's outcomes read lists the polls with results and the answered questions", "[archive][polls][outcomes]") {
  Fixture fx;
  auto r = archive::outcomes(fx.db, fx.session);
  INFO(r.status().message());
  REQUIRE(r.is_ok());
  const json& doc = *r;

  THEN("the session's poll comes with counts, percentages of the ballots and its times") {
    REQUIRE(doc["polls"].size() == 1);
    const json& p = doc["polls"][0];
    CHECK(p["id"] == fx.poll);
    CHECK(p["question_ar"] == "ما الأولوية؟");
    CHECK(p["question_en"] == "What comes first?");
    CHECK(p["status"] == "closed");
    CHECK(p["total"] == 3);
    REQUIRE(p["options"].size() == 3);
    CHECK(p["options"][0] == json{{"ar", "الطرق"}, {"en", "Roads"}, {"votes", 1}, {"percent", 33}});
    CHECK(p["options"][1] == json{{"ar", "المدارس"}, {"en", "Schools"}, {"votes", 2}, {"percent", 67}});
    CHECK(p["options"][2]["votes"] == 0);
    CHECK(p["options"][2]["percent"] == 0);
    CHECK(p["opened_at_ms"] == kLiveAt + 60'000);
    CHECK(p["closed_at_ms"] == kLiveAt + 120'000);
  }

  THEN("only the answered approved question is listed, with its newest outcome") {
    REQUIRE(doc["decisions"].size() == 1);
    const json& d = doc["decisions"][0];
    CHECK(d["id"] == fx.answered);
    CHECK(d["text"] == "متى تُرصف الطريق؟");
    CHECK(d["status"] == "accepted");
    CHECK(d["note_ar"] == "سيُرصف الشهر القادم");
    CHECK(d["note_en"] == "Paving next month");
    CHECK(d["owner"] == "البلدية");
    CHECK(d["due"] == "2026-01-31");
    CHECK(d["history"].size() == 2);
  }

  THEN("the percentages are the exports' rounding") {
    CHECK(poll_percent(1, 3) == 33);
    CHECK(poll_percent(2, 3) == 67);
    CHECK(poll_percent(1, 2) == 50);
    CHECK(poll_percent(5, 0) == 0);
  }
}

SCENARIO("the outcomes read of an unknown or empty session", "[archive][outcomes]") {
  Fixture fx;
  WHEN("the session does not exist") {
    auto r = archive::outcomes(fx.db, 999);
    THEN("it is not_found") {
      REQUIRE_FALSE(r.is_ok());
      CHECK(r.status().code() == "not_found");
    }
  }
  WHEN("the session has a poll but no answered question") {
    auto r = archive::outcomes(fx.db, fx.other);
    REQUIRE(r.is_ok());
    THEN("its own poll and no decisions") {
      CHECK((*r)["polls"].size() == 1);
      CHECK((*r)["polls"][0]["total"] == 0);
      CHECK((*r)["decisions"].empty());
    }
  }
}
