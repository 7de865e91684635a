// Live polls through a real server (in-process, ManualClock: the two-a-second
// coalescing is driven by advancing time) with real WebSocket clients on
// 127.0.0.1 and the real SQLite file.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include "common/clock.h"
#include "config/config.h"
#include "sabla/server.h"
#include "support/http_client.h"
#include "support/server_process.h"
#include "support/ws_client.h"

using namespace sabla;
using namespace sabla::test;
using nlohmann::json;

namespace {

struct InProcess {
  TempDir dir{"sabla-polls"};
  ManualClock clock;
  Config config;
  std::unique_ptr<Server> server;
  std::string password;

  explicit InProcess(int votes_per_ip = 50) {
    config.data_dir = dir.path();
    config.bind = "127.0.0.1";
    config.port = 0;
    config.video_source = "off";
    config.poll_votes_per_ip = votes_per_ip;
    start();
  }
  void start() {
    std::string err;
    server = Server::start(config, &err, &clock);
    INFO(err);
    REQUIRE(server);
    if (!server->initial_password().empty()) password = server->initial_password();
  }
  void restart() {
    server.reset();
    start();
  }
  int port() const { return server->port(); }
  std::string origin() const { return "http://127.0.0.1:" + std::to_string(port()); }
  std::unique_ptr<WsClient> connect(const std::string& protocol, const std::string& cookie = {}) {
    WsOptions o;
    o.port = port();
    o.subprotocol = protocol;
    if (!cookie.empty()) {
      o.cookie = cookie;
      o.origin = origin();
    }
    std::string err;
    auto c = WsClient::connect(o, &err);
    INFO(err);
    REQUIRE(c);
    return c;
  }
  std::unique_ptr<WsClient> studio() {
    auto r = http_post_json(port(), "/api/v1/login", json{{"name", "producer"}, {"password", password}},
                            {{"Origin", origin()}});
    REQUIRE(r.status == 200);
    auto c = connect("sabla.studio.v1", cookie_from(r, "sabla_session"));
    REQUIRE(c->recv_type("snapshot", 5000));
    return c;
  }
  std::unique_ptr<WsClient> viewer(json* welcome = nullptr) {
    auto c = connect("sabla.viewer.v1");
    auto w = c->recv_type("welcome", 5000);
    REQUIRE(w);
    if (welcome) *welcome = *w;
    return c;
  }
  int64_t rows(const std::string& sql) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(config.db_path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    int64_t n = -1;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
      n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
  }
};

// Sends a studio command with an op and returns its reply (ok or error).
json command(WsClient& studio, json msg) {
  static int n = 0;
  const std::string op = "op-" + std::to_string(++n);
  msg["op"] = op;
  studio.send_json(msg);
  auto r = studio.recv_until([&](const json& j) { return j.value("op", "") == op; }, 5000);
  REQUIRE(r);
  return *r;
}

json poll_create(const std::string& results = "live") {
  return json{{"type", "poll_create"},
              {"question_ar", "ما أولوية الميزانية؟"},
              {"question_en", "Budget priority?"},
              {"options", json::array({json{{"ar", "الطرق"}, {"en", "Roads"}}, json{{"ar", "المدارس"}, {"en", "Schools"}},
                                       json{{"ar", "الصحة"}, {"en", "Health"}}})},
              {"results", results}};
}

// The reply to a viewer's poll_vote: voted or error.
json vote(WsClient& viewer, int64_t poll, json options) {
  viewer.send_json({{"type", "poll_vote"}, {"poll", poll}, {"options", options}});
  auto r = viewer.recv_until(
      [](const json& j) { return j.value("type", "") == "voted" || j.value("type", "") == "error"; }, 5000);
  REQUIRE(r);
  return *r;
}

auto poll_push(int64_t id, const std::function<bool(const json&)>& also = [](const json&) { return true; }) {
  return [id, also](const json& j) { return j.value("type", "") == "poll" && j["poll"]["id"] == id && also(j["poll"]); };
}

}  // namespace

SCENARIO("a poll's lifecycle with real clients: one ballot per viewer, the last counts, closed refuses",
         "[server][polls]") {
  InProcess s;
  auto studio = s.studio();
  json created = command(*studio, poll_create());
  REQUIRE(created["type"] == "ok");
  REQUIRE(created["action"] == "poll_create");
  const int64_t id = created["poll"]["id"];
  CHECK(created["poll"]["status"] == "draft");
  CHECK(created["poll"]["options"].size() == 3);
  CHECK(s.rows("SELECT count(*) FROM moderation_events WHERE action='poll_create' AND actor='producer'") == 1);

  json welcome;
  auto a = s.viewer(&welcome);
  auto b = s.viewer();
  CHECK(welcome["polls"].empty());  // drafts are the studio's

  WHEN("a viewer votes on a draft") {
    json r = vote(*a, id, {0});
    THEN("the poll does not exist for them") { CHECK(r["code"] == "not_found"); }
  }

  WHEN("the poll opens and viewers vote") {
    REQUIRE(command(*studio, {{"type", "poll_open"}, {"id", id}})["type"] == "ok");
    REQUIRE(a->recv_until(poll_push(id, [](const json& p) { return p["status"] == "open"; }), 5000));
    json va = vote(*a, id, {0});
    REQUIRE(va["type"] == "voted");
    CHECK(va["poll"] == id);
    CHECK(va["options"] == json::array({0}));
    REQUIRE(vote(*b, id, {1})["type"] == "voted");
    json changed = vote(*a, id, {1});
    REQUIRE(changed["type"] == "voted");
    s.clock.advance(600);  // past the coalescing half second

    THEN("each viewer has one ballot, and the last one counts") {
      auto pushed = studio->recv_until(poll_push(id, [](const json& p) { return p["total"] == 2; }), 5000);
      REQUIRE(pushed);
      CHECK((*pushed)["poll"]["options"][0]["votes"] == 0);
      CHECK((*pushed)["poll"]["options"][1]["votes"] == 2);
      CHECK(s.rows("SELECT count(*) FROM poll_votes WHERE poll_id=" + std::to_string(id)) == 2);
      CHECK(s.rows("SELECT count(*) FROM poll_votes WHERE options='[1]'") == 2);
      // Viewers see the live counts too.
      CHECK(b->recv_until(poll_push(id, [](const json& p) { return p["total"] == 2; }), 5000));
    }
    AND_THEN("bad ballots are refused") {
      CHECK(vote(*a, id, {7})["code"] == "invalid");
      CHECK(vote(*a, id, {0, 1})["code"] == "invalid");  // not a multiple-choice poll
      CHECK(vote(*a, id, json::array())["code"] == "invalid");
      CHECK(vote(*a, 9999, {0})["code"] == "not_found");
      CHECK(command(*studio, {{"type", "poll_delete"}, {"id", id}})["code"] == "conflict");
    }
    AND_WHEN("it closes") {
      json closed = command(*studio, {{"type", "poll_close"}, {"id", id}});
      REQUIRE(closed["type"] == "ok");
      CHECK(closed["poll"]["status"] == "closed");
      CHECK(closed["poll"]["closed_at"].is_number());
      THEN("votes are refused with closed, and reopening takes them again") {
        CHECK(vote(*b, id, {2})["code"] == "closed");
        REQUIRE(command(*studio, {{"type", "poll_reopen"}, {"id", id}})["type"] == "ok");
        CHECK(vote(*b, id, {2})["type"] == "voted");
        CHECK(s.rows("SELECT count(*) FROM moderation_events WHERE action IN ('poll_open','poll_close','poll_reopen')") ==
              3);
      }
      AND_THEN("a restart keeps the poll, its status and its counts") {
        studio.reset();
        a.reset();
        b.reset();
        s.restart();
        auto st = s.studio();
        json w;
        auto v = s.viewer(&w);
        REQUIRE(w["polls"].size() == 1);
        CHECK(w["polls"][0]["status"] == "closed");
        CHECK(w["polls"][0]["total"] == 2);
        CHECK(w["polls"][0]["options"][1]["votes"] == 2);
      }
    }
  }

  WHEN("a draft is deleted") {
    json r = command(*studio, {{"type", "poll_delete"}, {"id", id}});
    THEN("it is gone, with the deletion in the audit log") {
      CHECK(r["type"] == "ok");
      CHECK(s.rows("SELECT count(*) FROM polls") == 0);
      CHECK(s.rows("SELECT count(*) FROM moderation_events WHERE action='poll_delete'") == 1);
      CHECK(command(*studio, {{"type", "poll_open"}, {"id", id}})["code"] == "not_found");
    }
  }

  WHEN("a viewer sends studio poll commands or poll_create is malformed") {
    a->send_json({{"type", "poll_open"}, {"id", id}});
    auto refused = a->recv_type("error", 5000);
    json bad = poll_create();
    bad["options"] = json::array({json{{"ar", "واحد"}}});
    json r = command(*studio, bad);
    THEN("both are refused") {
      REQUIRE(refused);
      CHECK((*refused)["code"] == "invalid");
      CHECK(r["code"] == "invalid");
      CHECK(s.rows("SELECT count(*) FROM polls WHERE status='open'") == 0);
    }
  }
}

SCENARIO("results visibility is honoured for viewers, never for studios", "[server][polls]") {
  InProcess s;
  auto studio = s.studio();
  const int64_t id = command(*studio, poll_create("after_close"))["poll"]["id"];
  const int64_t hidden = command(*studio, poll_create("hidden"))["poll"]["id"];
  REQUIRE(command(*studio, {{"type", "poll_open"}, {"id", id}})["type"] == "ok");
  REQUIRE(command(*studio, {{"type", "poll_open"}, {"id", hidden}})["type"] == "ok");
  auto v = s.viewer();
  REQUIRE(vote(*v, id, {2})["type"] == "voted");
  REQUIRE(vote(*v, hidden, {0})["type"] == "voted");
  s.clock.advance(600);

  THEN("while open, viewers get the question and options without counts; studios get counts") {
    auto seen = v->recv_until(poll_push(id), 5000);
    REQUIRE(seen);
    CHECK_FALSE((*seen)["poll"].contains("total"));
    CHECK_FALSE((*seen)["poll"]["options"][2].contains("votes"));
    CHECK((*seen)["poll"]["options"][2]["en"] == "Health");
    auto studio_seen = studio->recv_until(poll_push(id, [](const json& p) { return p["total"] == 1; }), 5000);
    REQUIRE(studio_seen);
    CHECK((*studio_seen)["poll"]["options"][2]["votes"] == 1);
  }
  AND_WHEN("they close") {
    REQUIRE(command(*studio, {{"type", "poll_close"}, {"id", id}})["type"] == "ok");
    REQUIRE(command(*studio, {{"type", "poll_close"}, {"id", hidden}})["type"] == "ok");
    s.clock.advance(600);
    THEN("after_close shows the counts to viewers, hidden never does") {
      auto after = v->recv_until(poll_push(id, [](const json& p) { return p["status"] == "closed"; }), 5000);
      REQUIRE(after);
      CHECK((*after)["poll"]["total"] == 1);
      CHECK((*after)["poll"]["options"][2]["votes"] == 1);
      auto h = v->recv_until(poll_push(hidden, [](const json& p) { return p["status"] == "closed"; }), 5000);
      REQUIRE(h);
      CHECK_FALSE((*h)["poll"].contains("total"));
      json w;
      auto late = s.viewer(&w);
      REQUIRE(w["polls"].size() == 2);
      for (const auto& p : w["polls"]) CHECK(p.contains("total") == (p["id"] == id));
      CHECK(w["polls"][0]["mine"].is_null());  // a new identity has no ballot
    }
  }
}

SCENARIO("poll pushes are coalesced to two a second per poll", "[server][polls]") {
  InProcess s;
  auto studio = s.studio();
  const int64_t id = command(*studio, poll_create())["poll"]["id"];
  auto watcher = s.viewer();
  REQUIRE(command(*studio, {{"type", "poll_open"}, {"id", id}})["type"] == "ok");
  REQUIRE(watcher->recv_until(poll_push(id, [](const json& p) { return p["status"] == "open"; }), 5000));
  std::vector<std::unique_ptr<WsClient>> voters;
  for (int i = 0; i < 6; ++i) {
    voters.push_back(s.viewer());
    REQUIRE(vote(*voters.back(), id, {i % 3})["type"] == "voted");
  }
  THEN("no push comes while the clock stands within the half second, then one with every vote") {
    CHECK_FALSE(watcher->recv_until(poll_push(id), 400));
    s.clock.advance(500);
    auto one = watcher->recv_until(poll_push(id), 5000);
    REQUIRE(one);
    CHECK((*one)["poll"]["total"] == 6);
    CHECK_FALSE(watcher->recv_until(poll_push(id), 300));
  }
}

SCENARIO("a per-IP cap limits the ballots one address casts in a poll", "[server][polls]") {
  InProcess s(2);  // [limits] poll_votes_per_ip = 2; every test client is 127.0.0.1
  auto studio = s.studio();
  const int64_t id = command(*studio, poll_create())["poll"]["id"];
  REQUIRE(command(*studio, {{"type", "poll_open"}, {"id", id}})["type"] == "ok");
  auto a = s.viewer();
  auto b = s.viewer();
  auto c = s.viewer();
  REQUIRE(vote(*a, id, {0})["type"] == "voted");
  REQUIRE(vote(*b, id, {0})["type"] == "voted");
  THEN("a third identity from the address is refused, a change of vote is not") {
    CHECK(vote(*c, id, {0})["code"] == "rate_limited");
    CHECK(vote(*a, id, {2})["type"] == "voted");
    CHECK(s.rows("SELECT count(*) FROM poll_votes") == 2);
  }
}

SCENARIO("a poll on air: the overlay shows it and follows its counts", "[server][polls]") {
  InProcess s;
  auto studio = s.studio();
  const int64_t id = command(*studio, poll_create())["poll"]["id"];
  auto overlay = s.connect("sabla.overlay.v1");
  REQUIRE(overlay->recv_type("overlay", 5000));
  CHECK(command(*studio, {{"type", "poll_air"}, {"id", id}, {"on", true}})["code"] == "conflict");  // a draft
  REQUIRE(command(*studio, {{"type", "poll_open"}, {"id", id}})["type"] == "ok");
  REQUIRE(command(*studio, {{"type", "poll_air"}, {"id", id}, {"on", true}})["type"] == "ok");
  auto on = overlay->recv_until(
      [&](const json& j) { return j.value("type", "") == "overlay" && j["state"].value("poll", json()).is_object(); }, 5000);
  REQUIRE(on);
  CHECK((*on)["state"]["poll"]["id"] == id);
  CHECK((*on)["state"]["poll"]["question_ar"] == "ما أولوية الميزانية؟");
  CHECK(s.rows("SELECT count(*) FROM on_air_events WHERE kind='poll_aired'") == 1);

  auto v = s.viewer();
  REQUIRE(vote(*v, id, {1})["type"] == "voted");
  s.clock.advance(600);
  THEN("a vote moves the bars, and poll_air off takes it down") {
    auto counted = overlay->recv_until(
        [](const json& j) {
          return j.value("type", "") == "overlay" && j["state"].contains("poll") && j["state"]["poll"].is_object() &&
                 j["state"]["poll"].value("total", 0) == 1;
        },
        5000);
    REQUIRE(counted);
    CHECK((*counted)["state"]["poll"]["options"][1]["votes"] == 1);
    REQUIRE(command(*studio, {{"type", "poll_air"}, {"id", id}, {"on", false}})["type"] == "ok");
    CHECK(overlay->recv_until(
        [](const json& j) { return j.value("type", "") == "overlay" && j["state"].value("poll", json()).is_null(); }, 5000));
    CHECK(s.rows("SELECT count(*) FROM on_air_events WHERE kind='poll_cleared'") == 1);
  }
}
