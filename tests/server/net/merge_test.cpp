// Similar questions and merges through a real server (in-process) with real
// WebSocket clients, the real SQLite file and the real exporter.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include "archive/export.h"
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
  TempDir dir{"sabla-merge"};
  ManualClock clock;
  Config config;
  std::unique_ptr<Server> server;
  std::string password;

  InProcess() {
    config.data_dir = dir.path();
    config.bind = "127.0.0.1";
    config.port = 0;
    config.video_source = "off";
    config.comment_burst = 50;
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
  std::unique_ptr<WsClient> studio(json* snapshot = nullptr) {
    auto r = http_post_json(port(), "/api/v1/login", json{{"name", "producer"}, {"password", password}},
                            {{"Origin", origin()}});
    REQUIRE(r.status == 200);
    auto c = connect("sabla.studio.v1", cookie_from(r, "sabla_session"));
    auto snap = c->recv_type("snapshot", 5000);
    REQUIRE(snap);
    if (snapshot) *snapshot = *snap;
    return c;
  }
  std::unique_ptr<WsClient> viewer() {
    auto c = connect("sabla.viewer.v1");
    REQUIRE(c->recv_type("welcome", 5000));
    return c;
  }
  std::string q(const std::string& sql) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(config.db_path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    std::string out = "?";
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
      const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      out = t ? t : "";
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }
};

json command(WsClient& studio, json msg) {
  static int n = 0;
  const std::string op = "m-" + std::to_string(++n);
  msg["op"] = op;
  studio.send_json(msg);
  auto r = studio.recv_until([&](const json& j) { return j.value("op", "") == op; }, 5000);
  REQUIRE(r);
  return *r;
}

// Posts a comment; returns the studio's pending push for it.
json post(WsClient& viewer, WsClient& studio, const std::string& cid, const std::string& text) {
  viewer.send_json({{"type", "comment"}, {"client_id", cid}, {"text", text}});
  auto ack = viewer.recv_type("ack", 5000);
  REQUIRE(ack);
  const int64_t id = (*ack)["id"];
  auto pending = studio.recv_until(
      [&](const json& j) { return j.value("type", "") == "pending" && j["comment"]["id"] == id; }, 5000);
  REQUIRE(pending);
  return (*pending)["comment"];
}

int64_t vote_from_new_viewers(InProcess& s, int64_t id, int n) {
  int64_t last = -1;
  for (int i = 0; i < n; ++i) {
    auto v = s.viewer();
    v->send_json({{"type", "vote"}, {"id", id}});
    auto r = v->recv_until([&](const json& j) { return j.value("type", "") == "votes" && j["id"] == id; }, 5000);
    REQUIRE(r);
    last = (*r)["votes"];
  }
  return last;
}

std::string export_json(InProcess& s, int64_t session) {
  auto ex = archive::Exporter::open(s.config.db_path(), session, archive::Format::json);
  REQUIRE(ex.is_ok());
  std::string out, chunk;
  while ((*ex)->next(&chunk)) {
    out += chunk;
    chunk.clear();
  }
  REQUIRE((*ex)->status().is_ok());
  return out;
}

}  // namespace

SCENARIO("similar questions are listed side by side, merged and unmerged", "[server][merge]") {
  InProcess s;
  auto studio = s.studio();
  auto viewer = s.viewer();
  json first = post(*viewer, *studio, "a", "متى سيتم افتتاح المستشفى الجديد في صحار؟");
  json other = post(*viewer, *studio, "b", "How are school buses funded?");
  json second = post(*viewer, *studio, "c", "متى سيتم افتتاح المستشفى الجديد في مدينة صحار");
  const int64_t m = first["id"], n = second["id"];

  THEN("the later comment names the earlier one as similar, the unrelated one names none") {
    CHECK(first["similar"].empty());
    CHECK(other["similar"].empty());
    CHECK(second["similar"] == json::array({m}));
  }

  WHEN("both are approved and voted on, then N is merged into M") {
    REQUIRE(command(*studio, {{"type", "approve"}, {"id", m}})["type"] == "ok");
    REQUIRE(command(*studio, {{"type", "approve"}, {"id", n}})["type"] == "ok");
    REQUIRE(vote_from_new_viewers(s, m, 1) == 1);
    REQUIRE(vote_from_new_viewers(s, n, 2) == 2);
    auto watcher = s.viewer();
    json r = command(*studio, {{"type", "merge"}, {"id", n}, {"into", m}});
    REQUIRE(r["type"] == "ok");

    THEN("N leaves the viewers' feed, M shows the sum and counts two askers, the audit log keeps the link") {
      CHECK(watcher->recv_until([&](const json& j) { return j.value("type", "") == "retract" && j["id"] == n; }, 5000));
      auto votes = watcher->recv_until([&](const json& j) { return j.value("type", "") == "votes" && j["id"] == m; }, 5000);
      REQUIRE(votes);
      CHECK((*votes)["votes"] == 3);
      auto head = studio->recv_until(
          [&](const json& j) {
            return j.value("type", "") == "updated" && j.value("action", "") == "merged" && j["comment"]["id"] == m;
          },
          5000);
      REQUIRE(head);
      CHECK((*head)["comment"]["askers"] == 2);
      CHECK((*head)["comment"]["merged"] == json::array({n}));
      CHECK(s.q("SELECT status || ' ' || merged_into || ' ' || merged_from FROM comments WHERE id=" + std::to_string(n)) ==
            "merged " + std::to_string(m) + " approved");
      CHECK(s.q("SELECT reason FROM moderation_events WHERE action='merge' AND comment_id=" + std::to_string(n)) ==
            "into=" + std::to_string(m));
      // A merged comment cannot be decided on or merged again.
      CHECK(command(*studio, {{"type", "hide"}, {"id", n}})["code"] == "conflict");
      CHECK(command(*studio, {{"type", "merge"}, {"id", m}, {"into", n}})["code"] == "conflict");
      CHECK(command(*studio, {{"type", "merge"}, {"id", m}, {"into", m}})["code"] == "invalid");
    }
    AND_THEN("the JSON export lists N under M") {
      const json doc = json::parse(export_json(s, first["session"].get<int64_t>()));
      json jm, jn;
      for (const auto& c : doc["comments"]) {
        if (c["id"] == m) jm = c;
        if (c["id"] == n) jn = c;
      }
      CHECK(jm["merged"] == json::array({n}));
      CHECK(jn["status"] == "merged");
      CHECK(jn["merged_into"] == m);
    }
    AND_THEN("a restart keeps the group: a new viewer sees M with the summed votes and no N") {
      studio.reset();
      viewer.reset();
      watcher.reset();
      s.restart();
      json snap;
      auto st = s.studio(&snap);
      CHECK(snap["counters"]["merged"] == 1);
      auto w = s.connect("sabla.viewer.v1");
      auto welcome = w->recv_type("welcome", 5000);
      REQUIRE(welcome);
      bool saw_n = false;
      for (const auto& c : (*welcome)["feed"]) {
        if (c["id"] == m) CHECK(c["votes"] == 3);
        if (c["id"] == n) saw_n = true;
      }
      CHECK_FALSE(saw_n);
    }
    AND_WHEN("N is unmerged") {
      REQUIRE(command(*studio, {{"type", "unmerge"}, {"id", n}})["type"] == "ok");
      THEN("N is back in the feed with its own votes and M has its own again") {
        auto back = watcher->recv_until(
            [&](const json& j) { return j.value("type", "") == "comment" && j["comment"]["id"] == n; }, 5000);
        REQUIRE(back);
        CHECK((*back)["comment"]["votes"] == 2);
        auto votes = watcher->recv_until(
            [&](const json& j) { return j.value("type", "") == "votes" && j["id"] == m && j["votes"] == 1; }, 5000);
        CHECK(votes);
        CHECK(s.q("SELECT status FROM comments WHERE id=" + std::to_string(n)) == "approved");
        CHECK(s.q("SELECT count(*) FROM moderation_events WHERE action='unmerge'") == "1");
        CHECK(command(*studio, {{"type", "unmerge"}, {"id", n}})["code"] == "conflict");
      }
    }
  }
}
