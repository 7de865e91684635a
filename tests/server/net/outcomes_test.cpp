// The decisions register through a real server (in-process) with real
// WebSocket and HTTP clients on 127.0.0.1, the real SQLite file and the
// real audit export.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <sstream>

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
  TempDir dir{"sabla-outcomes"};
  ManualClock clock;
  Config config;
  std::unique_ptr<Server> server;
  std::string password;
  std::string cookie;

  InProcess() {
    config.data_dir = dir.path();
    config.bind = "127.0.0.1";
    config.port = 0;
    config.video_source = "off";
    std::string err;
    server = Server::start(config, &err, &clock);
    INFO(err);
    REQUIRE(server);
    password = server->initial_password();
  }
  int port() const { return server->port(); }
  std::string origin() const { return "http://127.0.0.1:" + std::to_string(port()); }
  std::unique_ptr<WsClient> connect(const std::string& protocol, const std::string& c = {}) {
    WsOptions o;
    o.port = port();
    o.subprotocol = protocol;
    if (!c.empty()) {
      o.cookie = c;
      o.origin = origin();
    }
    std::string err;
    auto ws = WsClient::connect(o, &err);
    INFO(err);
    REQUIRE(ws);
    return ws;
  }
  std::unique_ptr<WsClient> studio() {
    auto r = http_post_json(port(), "/api/v1/login", json{{"name", "producer"}, {"password", password}},
                            {{"Origin", origin()}});
    REQUIRE(r.status == 200);
    cookie = cookie_from(r, "sabla_session");
    auto c = connect("sabla.studio.v1", cookie);
    REQUIRE(c->recv_type("snapshot", 5000));
    return c;
  }
  int64_t count(const std::string& sql) {
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

json command(WsClient& studio, json msg) {
  static int n = 0;
  const std::string op = "o-" + std::to_string(++n);
  msg["op"] = op;
  studio.send_json(msg);
  auto r = studio.recv_until([&](const json& j) { return j.value("op", "") == op; }, 5000);
  REQUIRE(r);
  return *r;
}

int64_t post(WsClient& viewer, const std::string& cid, const std::string& text) {
  viewer.send_json({{"type", "comment"}, {"client_id", cid}, {"text", text}});
  auto ack = viewer.recv_type("ack", 5000);
  REQUIRE(ack);
  return (*ack)["id"];
}

}  // namespace

SCENARIO("outcomes: recorded with history in the audit chain, pushed to the author, public without hidden comments",
         "[server][outcomes]") {
  InProcess s;
  auto studio = s.studio();
  auto author = s.connect("sabla.viewer.v1");
  auto welcome = author->recv_type("welcome", 5000);
  REQUIRE(welcome);
  const std::string token = (*welcome)["token"];
  auto other = s.connect("sabla.viewer.v1");
  REQUIRE(other->recv_type("welcome", 5000));

  const int64_t asked = post(*author, "a", "متى يفتح المستشفى الجديد في صحار؟");
  const int64_t rejected = post(*other, "b", "تعليق مرفوض");
  const int64_t hidden = post(*other, "c", "سؤال أخفي لاحقًا");
  REQUIRE(command(*studio, {{"type", "approve"}, {"id", asked}})["type"] == "ok");
  REQUIRE(command(*studio, {{"type", "reject"}, {"id", rejected}})["type"] == "ok");
  REQUIRE(command(*studio, {{"type", "approve"}, {"id", hidden}})["type"] == "ok");
  const int64_t session = s.count("SELECT session_id FROM comments WHERE id=" + std::to_string(asked));

  json first = command(*studio, {{"type", "outcome"}, {"id", asked}, {"status", "studying"},
                                 {"note_ar", "تدرس الوزارة الموعد"}, {"owner", "وزارة الصحة"}, {"due", "2027-03-31"}});
  REQUIRE(first["type"] == "ok");
  CHECK(first["outcome"]["status"] == "studying");
  REQUIRE(command(*studio, {{"type", "outcome"}, {"id", hidden}, {"status", "received"}})["type"] == "ok");
  REQUIRE(command(*studio, {{"type", "hide"}, {"id", hidden}})["type"] == "ok");

  THEN("bad outcomes are refused and nothing is written for them") {
    CHECK(command(*studio, {{"type", "outcome"}, {"id", rejected}, {"status", "accepted"}})["code"] == "conflict");
    CHECK(command(*studio, {{"type", "outcome"}, {"id", asked}, {"status", "maybe"}})["code"] == "invalid");
    CHECK(command(*studio, {{"type", "outcome"}, {"id", asked}, {"status", "accepted"}, {"due", "2027-02-30"}})["code"] ==
          "invalid");
    CHECK(command(*studio, {{"type", "outcome"}, {"id", 99999}, {"status", "accepted"}})["code"] == "not_found");
    CHECK(s.count("SELECT count(*) FROM outcomes") == 2);
  }

  THEN("the author's connection gets the outcome; the other viewer does not") {
    auto pushed = author->recv_until([&](const json& j) { return j.value("type", "") == "outcome" && j["id"] == asked; }, 5000);
    REQUIRE(pushed);
    CHECK((*pushed)["outcome"]["note_ar"] == "تدرس الوزارة الموعد");
    CHECK((*pushed)["outcome"]["due"] == "2027-03-31");
    CHECK_FALSE(other->recv_until([&](const json& j) { return j.value("type", "") == "outcome" && j["id"] == asked; }, 300));
  }

  WHEN("the outcome changes over HTTP and the author comes back later") {
    auto r = http_post_json(s.port(), "/api/v1/comments/" + std::to_string(asked) + "/outcome",
                            json{{"status", "accepted"}, {"note_en", "Opening in March"}},
                            {{"Origin", s.origin()}, {"Cookie", s.cookie}});
    INFO(r.body);
    REQUIRE(r.status == 200);
    author.reset();
    auto back = s.connect("sabla.viewer.v1");
    REQUIRE(back->recv_type("welcome", 5000));
    back->send_json({{"type", "hello"}, {"token", token}});
    auto again = back->recv_type("welcome", 5000);
    REQUIRE(again);

    THEN("the history is kept, each change with its actor in the hash-chained audit log") {
      CHECK(s.count("SELECT count(*) FROM outcomes WHERE comment_id=" + std::to_string(asked)) == 2);
      CHECK(s.count("SELECT count(*) FROM moderation_events WHERE action='outcome' AND actor='producer' AND comment_id=" +
                    std::to_string(asked)) == 2);
      auto ex = archive::Exporter::open(s.config.db_path(), session, archive::Format::audit);
      REQUIRE(ex.is_ok());
      std::string audit, chunk;
      while ((*ex)->next(&chunk)) {
        audit += chunk;
        chunk.clear();
      }
      std::istringstream in(audit);
      CHECK(archive::verify_audit(in).is_ok());
      CHECK(audit.find("\"action\":\"outcome\"") != std::string::npos);
      CHECK(audit.find("Opening in March") != std::string::npos);
    }
    AND_THEN("the decisions export lists the approved question with its outcome and history, as CSV and JSON") {
      auto take = [&](archive::Format f) {
        auto ex = archive::Exporter::open(s.config.db_path(), session, f);
        REQUIRE(ex.is_ok());
        std::string out, chunk;
        while ((*ex)->next(&chunk)) {
          out += chunk;
          chunk.clear();
        }
        REQUIRE((*ex)->status().is_ok());
        return out;
      };
      const std::string csv = take(archive::Format::decisions);
      CHECK(csv.rfind("\xEF\xBB\xBF", 0) == 0);
      CHECK(csv.find("comment,text,author,askers,votes,status,note_ar,note_en,owner,due,updated_at\r\n") == 3);
      CHECK(csv.find("accepted") != std::string::npos);
      CHECK(csv.find("سؤال أخفي لاحقًا") == std::string::npos);
      const json doc = json::parse(take(archive::Format::decisions_json));
      CHECK(doc["format"] == "sabla-decisions");
      REQUIRE(doc["decisions"].size() == 1);
      CHECK(doc["decisions"][0]["comment"] == asked);
      CHECK(doc["decisions"][0]["note_en"] == "Opening in March");
      CHECK(doc["decisions"][0]["history"].size() == 2);
    }
    AND_THEN("the welcome brings the author the current outcome") {
      REQUIRE((*again)["outcomes"].size() == 1);
      CHECK((*again)["outcomes"][0]["id"] == asked);
      CHECK((*again)["outcomes"][0]["outcome"]["status"] == "accepted");
    }
    AND_THEN("the public register, without a login, shows the approved question only, with its history") {
      auto list = http_get(s.port(), "/api/v1/public/sessions");
      REQUIRE(list.status == 200);
      const json sessions = json::parse(list.body)["sessions"];
      REQUIRE(sessions.size() == 1);
      CHECK(sessions[0]["decisions"] == 1);
      auto pub = http_get(s.port(), "/api/v1/public/sessions/" + std::to_string(session) + "/decisions");
      REQUIRE(pub.status == 200);
      const json doc = json::parse(pub.body);
      REQUIRE(doc["decisions"].size() == 1);
      const json& d = doc["decisions"][0];
      CHECK(d["id"] == asked);
      CHECK(d["status"] == "accepted");
      CHECK(d["note_en"] == "Opening in March");
      CHECK(d["askers"] == 1);
      REQUIRE(d["history"].size() == 2);
      CHECK(d["history"][0]["status"] == "studying");
      CHECK(pub.body.find("تعليق مرفوض") == std::string::npos);
      CHECK(pub.body.find("سؤال أخفي لاحقًا") == std::string::npos);
      CHECK(http_get(s.port(), "/api/v1/public/sessions/999/decisions").status == 404);
      CHECK(http_get(s.port(), "/decisions").status == 200);
    }
  }
}
