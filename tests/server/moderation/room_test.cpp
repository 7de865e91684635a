// The Room's rules, driven directly: a real SQLite file (non-threaded store,
// so completions run inline), a manual clock, and a recorder for frames.
#include <catch2/catch.hpp>

#include <map>
#include <sqlite3.h>

#include "common/crypto.h"
#include "moderation/room.h"
#include "support/server_process.h"

using namespace sabla;
using namespace sabla::moderation;
using nlohmann::json;

namespace {

struct Recorder : Outbound {
  std::map<ConnId, std::vector<json>> sent;
  std::map<Audience, std::vector<json>> published;
  void send(ConnId conn, std::string frame) override { sent[conn].push_back(json::parse(frame)); }
  void publish(Audience a, std::string frame) override { published[a].push_back(json::parse(frame)); }
  void close(ConnId, int, std::string) override {}
  void flush(Audience) override {}
  json last(ConnId conn) { return sent[conn].empty() ? json() : sent[conn].back(); }
  std::vector<json> of_type(Audience a, const std::string& type) {
    std::vector<json> out;
    for (auto& j : published[a])
      if (j["type"] == type) out.push_back(j);
    return out;
  }
};

struct Fixture {
  test::TempDir dir{"sabla-room"};
  Config config;
  ManualClock clock;
  Recorder out;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<Room> room;

  Fixture() {
    crypto::init();
    config.data_dir = dir.path();
    open();
  }
  void open() {
    room.reset();
    store.reset();
    store::Store::Options o;
    o.path = config.db_path();
    o.threaded = false;
    auto s = store::Store::open(o, [](store::Task t) { t(); });
    REQUIRE(s);
    store = std::move(*s);
    room = std::make_unique<Room>(config, *store, clock, out);
    REQUIRE(room->load());
  }
  json comment(ConnId conn, const std::string& client_id, const std::string& text) {
    room->viewer_message(conn, json{{"type", "comment"}, {"client_id", client_id}, {"text", text}}.dump());
    return out.last(conn);
  }
  json studio(ConnId conn, json msg) {
    room->studio_message(conn, msg.dump());
    return out.last(conn);
  }
  int64_t count_rows(const std::string& sql) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(config.db_path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
  }
};

constexpr ConnId kViewer = 1, kViewer2 = 2, kStudio = 10, kStudio2 = 11;
const Actor kModerator{"amal", "moderator"};

}  // namespace

SCENARIO("a viewer's comment is stored, acked, approved and broadcast", "[room]") {
  Fixture f;
  f.room->viewer_connected(kViewer, "10.0.0.1");
  json welcome = f.out.last(kViewer);
  REQUIRE(welcome["type"] == "welcome");
  CHECK(welcome["session"]["status"] == "live");
  CHECK(welcome["feed"].empty());
  CHECK(welcome["token"].get<std::string>().size() >= 32);
  f.room->studio_connected(kStudio, kModerator);
  CHECK(f.out.last(kStudio)["type"] == "snapshot");

  json ack = f.comment(kViewer, "c-1", "  ما هي خطة تطوير الطرق؟  ");
  REQUIRE(ack["type"] == "ack");
  CHECK(ack["client_id"] == "c-1");
  CHECK(ack["status"] == "pending");
  const int64_t id = ack["id"];
  CHECK(f.count_rows("SELECT count(*) FROM comments WHERE status='pending'") == 1);
  auto pending = f.out.of_type(Audience::studios, "pending");
  REQUIRE(pending.size() == 1);
  CHECK(pending[0]["comment"]["text"] == "ما هي خطة تطوير الطرق؟");
  CHECK(pending[0]["comment"]["dir"] == "rtl");
  CHECK(f.out.of_type(Audience::viewers, "comment").empty());  // not before approval

  WHEN("a moderator approves it") {
    json ok = f.studio(kStudio, {{"type", "approve"}, {"id", id}, {"op", "x1"}});
    THEN("the reply echoes the op, viewers get the comment, the audit log has it") {
      CHECK(ok["type"] == "ok");
      CHECK(ok["op"] == "x1");
      auto comments = f.out.of_type(Audience::viewers, "comment");
      REQUIRE(comments.size() == 1);
      CHECK(comments[0]["comment"]["id"] == id);
      CHECK_FALSE(comments[0]["comment"].contains("viewer"));  // viewers do not see ids of others
      CHECK(f.count_rows("SELECT count(*) FROM moderation_events WHERE action='approve' AND actor='amal'") == 1);
    }
    AND_WHEN("a second moderator approves or rejects it too") {
      f.room->studio_connected(kStudio2, Actor{"badr", "producer"});
      json again = f.studio(kStudio2, {{"type", "reject"}, {"id", id}, {"op", 7}});
      THEN("it is a conflict and nothing changes") {
        CHECK(again["type"] == "error");
        CHECK(again["code"] == "conflict");
        CHECK(again["op"] == 7);
        CHECK(f.count_rows("SELECT count(*) FROM comments WHERE status='approved'") == 1);
      }
    }
    AND_WHEN("a new viewer connects") {
      f.room->viewer_connected(kViewer2, "10.0.0.2");
      THEN("its welcome feed holds the approved comment") {
        json w = f.out.last(kViewer2);
        REQUIRE(w["feed"].size() == 1);
        CHECK(w["feed"][0]["id"] == id);
      }
    }
    AND_WHEN("it is hidden") {
      f.studio(kStudio, {{"type", "hide"}, {"id", id}});
      THEN("viewers get a retract") {
        auto r = f.out.of_type(Audience::viewers, "retract");
        REQUIRE(r.size() == 1);
        CHECK(r[0]["id"] == id);
      }
    }
    AND_WHEN("viewers vote") {
      f.room->viewer_connected(kViewer2, "10.0.0.2");
      f.room->viewer_message(kViewer2, json{{"type", "vote"}, {"id", id}}.dump());
      f.room->viewer_message(kViewer2, json{{"type", "vote"}, {"id", id}}.dump());
      THEN("each viewer counts once") {
        CHECK(f.out.last(kViewer2)["code"] == "conflict");
        auto votes = f.out.of_type(Audience::viewers, "votes");
        REQUIRE(votes.size() == 1);
        CHECK(votes[0]["votes"] == 1);
        CHECK(f.count_rows("SELECT votes FROM comments WHERE id=" + std::to_string(id)) == 1);
      }
    }
  }
  WHEN("it is edited") {
    json ok = f.studio(kStudio, {{"type", "edit"}, {"id", id}, {"text", "ما خطة الطرق؟"}});
    THEN("the row has the new text and the audit log keeps the original") {
      CHECK(ok["type"] == "ok");
      CHECK(f.count_rows("SELECT count(*) FROM comments WHERE text='ما خطة الطرق؟'") == 1);
      CHECK(f.count_rows("SELECT count(*) FROM moderation_events WHERE action='edit' AND "
                         "before_text='ما هي خطة تطوير الطرق؟' AND after_text='ما خطة الطرق؟'") == 1);
    }
  }
}

SCENARIO("re-sending a client_id is idempotent, also across a restart", "[room]") {
  Fixture f;
  f.room->viewer_connected(kViewer, "10.0.0.1");
  std::string token = f.out.last(kViewer)["token"];
  const int64_t viewer = f.out.last(kViewer)["viewer"];
  json first = f.comment(kViewer, "same", "hello");
  json second = f.comment(kViewer, "same", "hello");
  CHECK(second["id"] == first["id"]);
  CHECK(second["status"] == first["status"]);
  CHECK(f.count_rows("SELECT count(*) FROM comments") == 1);

  f.open();  // restart: new Room and Store on the same file
  f.room->viewer_connected(kViewer, "10.0.0.1");
  f.room->viewer_message(kViewer, json{{"type", "hello"}, {"token", token}}.dump());
  CHECK(f.out.last(kViewer)["viewer"] == viewer);  // the token restored the identity
  json third = f.comment(kViewer, "same", "hello");
  CHECK(third["type"] == "ack");
  CHECK(third["id"] == first["id"]);
  CHECK(f.count_rows("SELECT count(*) FROM comments") == 1);
}

SCENARIO("bad comments get clear errors and store nothing", "[room]") {
  Fixture f;
  f.room->viewer_connected(kViewer, "10.0.0.1");
  CHECK(f.comment(kViewer, "a", "   \u202E  ")["code"] == "empty");
  CHECK(f.comment(kViewer, "a2", "\u200B\u200B")["code"] == "empty");  // invisible only
  CHECK(f.comment(kViewer, "b", std::string(501, 'x'))["code"] == "too_long");
  f.room->viewer_message(kViewer, R"({"type":"comment","text":"no id"})");
  CHECK(f.out.last(kViewer)["code"] == "invalid");
  f.room->viewer_message(kViewer, R"({"type":"comment","client_id":"c","text":5})");
  CHECK(f.out.last(kViewer)["code"] == "invalid");
  f.room->viewer_message(kViewer, "{not json");
  CHECK(f.out.last(kViewer)["code"] == "invalid");
  f.room->viewer_message(kViewer, R"({"type":"teleport"})");
  CHECK(f.out.last(kViewer)["code"] == "invalid");
  CHECK(f.count_rows("SELECT count(*) FROM comments") == 0);
}

SCENARIO("the comment parser's edge cases get the same clear errors", "[room][parse]") {
  Fixture f;
  f.room->viewer_connected(kViewer, "10.0.0.1");
  auto reply = [&](const std::string& frame) {
    f.room->viewer_message(kViewer, frame);
    return f.out.last(kViewer);
  };
  auto error_is = [](const json& j, const char* code, const char* message) {
    return j["type"] == "error" && j["code"] == code && j["message"] == message;
  };
  const char* bad_id = "client_id must be a string of 1-64 characters or an integer";

  // Missing or unusable fields.
  json e = reply(R"({"type":"comment","text":"no id"})");
  CHECK(error_is(e, "invalid", bad_id));
  CHECK_FALSE(e.contains("client_id"));
  e = reply(R"({"type":"comment","client_id":"","text":"x"})");
  CHECK(error_is(e, "invalid", bad_id));
  CHECK(e["client_id"] == "");
  e = reply(json{{"type", "comment"}, {"client_id", std::string(65, 'k')}, {"text", "x"}}.dump());
  CHECK(error_is(e, "invalid", bad_id));
  e = reply(R"({"type":"comment","client_id":1.5,"text":"x"})");  // echoed as it came
  CHECK(error_is(e, "invalid", bad_id));
  CHECK(e["client_id"] == 1.5);
  e = reply(R"({"type":"comment","client_id":{"a":[1]},"text":"x"})");
  CHECK(error_is(e, "invalid", bad_id));
  CHECK(e["client_id"] == json::parse(R"({"a":[1]})"));
  e = reply(R"({"type":"comment","client_id":"t1"})");
  CHECK(error_is(e, "invalid", "text must be a string"));
  CHECK(e["client_id"] == "t1");
  e = reply(R"({"type":"comment","client_id":2,"text":["x"]})");
  CHECK(error_is(e, "invalid", "text must be a string"));
  CHECK(e["client_id"] == 2);

  // Bad UTF-8: raw bytes, a cut character and a lone surrogate escape are
  // malformed JSON; nothing is stored.
  CHECK(error_is(reply("{\"type\":\"comment\",\"client_id\":\"u1\",\"text\":\"\xC3\x28\"}"), "invalid",
                 "malformed JSON"));
  CHECK(error_is(reply("{\"type\":\"comment\",\"client_id\":\"u2\",\"text\":\"cut \xD9\"}"), "invalid",
                 "malformed JSON"));
  CHECK(error_is(reply(R"({"type":"comment","client_id":"u3","text":"\ud800"})"), "invalid", "malformed JSON"));
  CHECK(error_is(reply(R"({"type":"comment","client_id":"u4","text":"x"} tail)"), "invalid", "malformed JSON"));
  CHECK(error_is(reply(std::string(17, '[') + std::string(17, ']')), "invalid", "JSON nested too deeply"));
  CHECK(error_is(reply(R"(["comment"])"), "invalid", "a message must be a JSON object"));
  CHECK(error_is(reply(R"({"type":5,"client_id":"u5","text":"x"})"), "invalid",
                 "a message needs a string \"type\""));

  // Oversize and empty.
  e = reply(json{{"type", "comment"}, {"client_id", "o1"}, {"text", std::string(501, 'x')}}.dump());
  CHECK(error_is(e, "too_long", "the comment is longer than 500 characters"));
  CHECK(e["client_id"] == "o1");
  CHECK(error_is(reply(R"({"type":"comment","client_id":"o2","text":" \n\t "})"), "empty", "the comment is empty"));
  CHECK(f.count_rows("SELECT count(*) FROM comments") == 0);

  // Accepted shapes: an integer id is acked as an integer, unknown and
  // nested extra fields are ignored, the last duplicate key counts, escapes
  // are decoded and the id is echoed byte for byte.
  e = reply(R"({"type":"comment","client_id":9007199254740993,"text":"int id"})");
  CHECK(e["type"] == "ack");
  CHECK(e["client_id"] == 9007199254740993);
  e = reply(R"({"type":"comment","client_id":"n1","text":"nested extra","extra":{"a":[1,{"b":2}]}})");
  CHECK(e["type"] == "ack");
  e = reply(R"({"type":"comment","client_id":"d1","text":7,"text":"the last text"})");
  CHECK(e["type"] == "ack");
  e = reply(R"({"type":"comment","client_id":"q \" \\ \u0001 م","text":"\u0645\u0631\u062d\u0628\u0627"})");
  CHECK(e["type"] == "ack");
  CHECK(e["client_id"] == "q \" \\ \u0001 م");
  CHECK(f.count_rows("SELECT count(*) FROM comments") == 4);
  CHECK(f.count_rows("SELECT count(*) FROM comments WHERE text = 'the last text'") == 1);
  CHECK(f.count_rows("SELECT count(*) FROM comments WHERE text = 'مرحبا'") == 1);
  CHECK(f.count_rows("SELECT count(*) FROM comments WHERE client_id = 'i:9007199254740993'") == 1);
  // A resend of the integer id gets the same ack, nothing new.
  json again = reply(R"({"client_id":9007199254740993,"text":"int id","type":"comment"})");
  CHECK(again["client_id"] == 9007199254740993);
  CHECK(again["type"] == "ack");
  CHECK(f.count_rows("SELECT count(*) FROM comments") == 4);
}

SCENARIO("viewers can never reach studio actions", "[room]") {
  Fixture f;
  f.room->viewer_connected(kViewer, "10.0.0.1");
  int64_t id = f.comment(kViewer, "c1", "hi")["id"];
  for (const char* type : {"approve", "reject", "hide", "edit", "ban", "settings"}) {
    f.room->viewer_message(kViewer, json{{"type", type}, {"id", id}, {"viewer", 1}, {"text", "x"},
                                         {"hold_for_review", false}}.dump());
    CHECK(f.out.last(kViewer)["code"] == "invalid");
  }
  CHECK(f.count_rows("SELECT count(*) FROM comments WHERE status='pending'") == 1);
  CHECK(f.count_rows("SELECT count(*) FROM moderation_events") == 0);
  CHECK(f.room->settings().hold_for_review);
}

SCENARIO("rate limit, slow mode and bans", "[room]") {
  Fixture f;
  f.config.comment_burst = 2;
  f.config.comments_per_second = 1;
  f.open();
  f.room->viewer_connected(kViewer, "10.0.0.1");
  const int64_t viewer = f.out.last(kViewer)["viewer"];
  CHECK(f.comment(kViewer, "1", "one")["type"] == "ack");
  CHECK(f.comment(kViewer, "2", "two")["type"] == "ack");
  json limited = f.comment(kViewer, "3", "three");
  CHECK(limited["code"] == "rate_limited");
  CHECK(limited["retry_after_ms"].get<int64_t>() > 0);
  f.clock.advance(1000);
  CHECK(f.comment(kViewer, "3", "three")["type"] == "ack");

  f.room->studio_connected(kStudio, kModerator);
  CHECK(f.studio(kStudio, {{"type", "settings"}, {"slow_mode_seconds", 30}})["type"] == "ok");
  f.clock.advance(10'000);
  json slow = f.comment(kViewer, "4", "four");
  CHECK(slow["code"] == "slow_mode");
  CHECK(slow["retry_after_ms"] == 20'000);  // last comment at +1 s, slow mode 30 s, now +11 s

  CHECK(f.studio(kStudio, {{"type", "ban"}, {"viewer", viewer}, {"seconds", 60}})["type"] == "ok");
  f.clock.advance(60'000 - 1);
  CHECK(f.comment(kViewer, "5", "five")["code"] == "banned");
  f.clock.advance(2);
  CHECK(f.comment(kViewer, "5", "five")["type"] == "ack");
  CHECK(f.count_rows("SELECT count(*) FROM moderation_events WHERE action='ban'") == 1);
}

SCENARIO("blocked words hold or reject, and review can be turned off", "[room]") {
  Fixture f;
  f.room->studio_connected(kStudio, kModerator);
  f.room->viewer_connected(kViewer, "10.0.0.1");
  REQUIRE(f.studio(kStudio, {{"type", "settings"}, {"blocked_words", {"حمار"}}, {"hold_for_review", false}})["type"] == "ok");
  json clean = f.comment(kViewer, "1", "سؤال مهم");
  CHECK(clean["status"] == "approved");
  json held = f.comment(kViewer, "2", "يا حِمــار");
  CHECK(held["status"] == "pending");
  CHECK(f.count_rows("SELECT count(*) FROM moderation_events WHERE action='filter_hold' AND reason LIKE '%حمار%'") == 1);
  REQUIRE(f.studio(kStudio, {{"type", "settings"}, {"blocked_action", "reject"}})["type"] == "ok");
  f.clock.advance(5000);
  f.comment(kViewer, "3", "حمار");
  CHECK(f.count_rows("SELECT count(*) FROM comments WHERE status='rejected'") == 1);
  CHECK(f.studio(kStudio, {{"type", "settings"}, {"max_length", -1}})["code"] == "invalid");
  CHECK(f.studio(kStudio, {{"type", "settings"}, {"colour", "red"}})["code"] == "invalid");

  f.open();  // settings survive a restart
  CHECK_FALSE(f.room->settings().hold_for_review);
  CHECK(f.room->settings().blocked_action == "reject");
}

SCENARIO("state survives a restart", "[room]") {
  Fixture f;
  f.room->studio_connected(kStudio, kModerator);
  f.room->viewer_connected(kViewer, "10.0.0.1");
  int64_t a = f.comment(kViewer, "1", "first")["id"];
  f.comment(kViewer, "2", "second");
  f.studio(kStudio, {{"type", "approve"}, {"id", a}});
  f.open();
  f.room->studio_connected(kStudio, kModerator);
  json snap = f.out.last(kStudio);
  REQUIRE(snap["type"] == "snapshot");
  CHECK(snap["pending"].size() == 1);
  CHECK(snap["approved"].size() == 1);
  CHECK(snap["approved"][0]["id"] == a);
  f.room->viewer_connected(kViewer2, "10.0.0.2");
  CHECK(f.out.last(kViewer2)["feed"].size() == 1);
}

SCENARIO("sessions: create, go live, end", "[room]") {
  Fixture f;
  const Actor producer{"p", "producer"};
  moderation::ApiReply reply;
  auto keep = [&](moderation::ApiReply r) { reply = std::move(r); };
  f.room->create_session(kModerator, json{{"title_ar", "جلسة"}}, keep);
  CHECK(reply.status == 403);
  f.room->create_session(producer, json{{"title_ar", "جلسة الطرق"}, {"title_en", "Roads"}}, keep);
  REQUIRE(reply.status == 201);
  int64_t id = reply.body["id"];
  CHECK(reply.body["status"] == "scheduled");
  f.room->set_session_live(producer, id, keep);
  REQUIRE(reply.status == 200);
  CHECK(f.room->current_session_id() == id);
  auto sessions = f.out.of_type(Audience::viewers, "session");
  REQUIRE_FALSE(sessions.empty());
  CHECK(sessions.back()["session"]["title_en"] == "Roads");
  f.room->end_session(producer, id, keep);
  CHECK(reply.status == 200);
  f.room->viewer_connected(kViewer, "10.0.0.1");
  CHECK(f.comment(kViewer, "1", "hello")["code"] == "no_session");
  f.room->set_session_live(producer, id, keep);
  CHECK(reply.status == 409);
}

SCENARIO("bridge comments land in the queue once per external id", "[room]") {
  Fixture f;
  moderation::ApiReply reply;
  auto keep = [&](moderation::ApiReply r) { reply = std::move(r); };
  const Actor bridge{"token:x-bridge", "moderator"};
  int64_t session = *f.room->current_session_id();
  json body = {{"source", "x"}, {"author", "@citizen"}, {"text", "Question about roads"}, {"external_id", "tw-1"}};
  f.room->bridge_comment(bridge, session, body, keep);
  REQUIRE(reply.status == 202);
  int64_t id = reply.body["id"];
  CHECK(reply.body["duplicate"] == false);
  f.room->bridge_comment(bridge, session, body, keep);
  CHECK(reply.status == 202);
  CHECK(reply.body["id"] == id);
  CHECK(reply.body["duplicate"] == true);
  CHECK(f.count_rows("SELECT count(*) FROM comments WHERE source='x'") == 1);
  f.room->bridge_comment(bridge, session, json{{"source", "web"}, {"text", "x"}}, keep);
  CHECK(reply.status == 400);
  f.room->bridge_comment(bridge, session + 100, body, keep);
  CHECK(reply.status == 409);
}

SCENARIO("an IP ban reaches new identities from the same address, and survives a restart", "[room]") {
  Fixture f;
  f.room->studio_connected(kStudio, kModerator);
  f.room->viewer_connected(kViewer, "192.0.2.7");
  const int64_t viewer = f.out.last(kViewer)["viewer"];
  REQUIRE(f.comment(kViewer, "1", "first")["type"] == "ack");
  REQUIRE(f.studio(kStudio, {{"type", "ban"}, {"viewer", viewer}, {"seconds", 3600}, {"ip", true}})["type"] == "ok");
  f.room->viewer_connected(kViewer2, "192.0.2.7");  // a fresh identity, same address
  CHECK(f.comment(kViewer2, "x", "again")["code"] == "banned");
  f.room->viewer_connected(3, "192.0.2.8");  // another address is unaffected
  CHECK(f.comment(3, "y", "hello")["type"] == "ack");

  f.open();
  f.room->viewer_connected(kViewer2, "192.0.2.7");
  CHECK(f.comment(kViewer2, "z", "after restart")["code"] == "banned");
  f.room->studio_connected(kStudio, kModerator);
  REQUIRE(f.studio(kStudio, {{"type", "unban"}, {"viewer", viewer}})["type"] == "ok");
  CHECK(f.comment(kViewer2, "z", "after unban")["type"] == "ack");
}

SCENARIO("hello restores an identity and sets a sanitized name", "[room]") {
  Fixture f;
  f.room->viewer_connected(kViewer, "10.0.0.1");
  const std::string token = f.out.last(kViewer)["token"];
  const int64_t viewer = f.out.last(kViewer)["viewer"];
  f.comment(kViewer, "1", "persist me");
  f.room->viewer_disconnected(kViewer);
  f.room->viewer_connected(kViewer2, "10.0.0.1");
  CHECK(f.out.last(kViewer2)["viewer"] != viewer);
  f.room->viewer_message(kViewer2, json{{"type", "hello"}, {"token", token},
                                        {"name", "\u202Eسالم\u200B العلوي" + std::string(40, 'x')}}.dump());
  json w = f.out.last(kViewer2);
  CHECK(w["viewer"] == viewer);
  CHECK(w["token"] == token);
  const std::string name = w["name"];
  CHECK(name.find("\u202E") == std::string::npos);
  CHECK(name.find("\u200B") == std::string::npos);
  CHECK(sabla::moderation::count_code_points(name) == 32);
  f.room->viewer_message(kViewer2, json{{"type", "hello"}, {"token", "unknown-token"}}.dump());
  CHECK(f.out.last(kViewer2)["token"] != "unknown-token");  // unknown tokens are replaced, not adopted
}
