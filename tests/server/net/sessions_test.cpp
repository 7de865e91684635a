// The producer's desk over HTTP (issue 17): a session is created with a
// planned start, renamed with PATCH /api/v1/sessions/{id}, and the new title
// reaches viewers and studios while it is on air. The real `sabla` binary, real
// WebSocket clients, the real SQLite file.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include "support/command.h"
#include "support/http_client.h"
#include "support/server_process.h"
#include "support/ws_client.h"

using namespace sabla::test;
using nlohmann::json;

namespace {

std::string origin(int port) { return "http://127.0.0.1:" + std::to_string(port); }

std::unique_ptr<WsClient> connect(int port, const std::string& protocol, const std::string& cookie = {}) {
  WsOptions o;
  o.port = port;
  o.subprotocol = protocol;
  if (!cookie.empty()) {
    o.cookie = cookie;
    o.origin = origin(port);
  }
  std::string err;
  auto c = WsClient::connect(o, &err);
  INFO(err);
  REQUIRE(c);
  return c;
}

HttpResponse patch(int port, const std::string& path, const std::string& body, const Headers& headers) {
  HttpRequest r;
  r.port = port;
  r.method = "PATCH";
  r.path = path;
  r.body = body;
  r.headers = headers;
  return http_request(r);
}

std::string column(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out = "<none>";
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return out;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    out = sqlite3_column_type(st, 0) == SQLITE_NULL ? "NULL" : reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

std::string error_code(const HttpResponse& r) {
  auto j = json_body(r);
  return j && j->contains("error") ? (*j)["error"].value("code", "") : "";
}

std::string error_message(const HttpResponse& r) {
  auto j = json_body(r);
  return j && j->contains("error") ? (*j)["error"].value("message", "") : "";
}

}  // namespace

SCENARIO("producer's desk: a session renamed with PATCH reaches viewers and studios; bad input is refused",
         "[server][sessions]") {
  ServerProcess srv;
  REQUIRE(srv.start());
  const int port = srv.port();
  const std::string db = srv.data_dir() + "/sabla.db";
  auto login = http_post_json(port, "/api/v1/login", json{{"name", "producer"}, {"password", srv.initial_password(2000)}},
                              {{"Origin", origin(port)}});
  REQUIRE(login.status == 200);
  const std::string cookie = cookie_from(login, "sabla_session");
  const Headers as_producer = {{"Cookie", cookie}, {"Origin", origin(port)}};
  std::string out = run_command(std::string(SABLA_BINARY) + " token create desk-mod --role moderator --data " + srv.data_dir());
  const std::string token = value_after(out, "token: ");
  REQUIRE(token.size() >= 40);

  auto created = http_post_json(port, "/api/v1/sessions",
                                json{{"title_ar", "جلسة الميزانية"}, {"title_en", "Budget"}, {"scheduled_at_ms", 1'900'000'000'000}},
                                as_producer);
  REQUIRE(created.status == 201);
  const int64_t sid = json_body(created).value()["id"];
  CHECK(json_body(created).value()["scheduled_at"] == 1'900'000'000'000);
  const std::string path = "/api/v1/sessions/" + std::to_string(sid);
  const std::string row = "SELECT title_ar || '|' || title_en || '|' || ifnull(scheduled_at_ms, 'NULL') FROM sessions WHERE id = " +
                          std::to_string(sid);
  CHECK(column(db, row) == "جلسة الميزانية|Budget|1900000000000");

  auto viewer = connect(port, "sabla.viewer.v1");
  REQUIRE(viewer->recv_type("welcome", 5000));
  auto studio = connect(port, "sabla.studio.v1", cookie);
  REQUIRE(studio->recv_type("snapshot", 5000));

  WHEN("the producer renames the scheduled session and takes it live") {
    auto renamed = patch(port, path, json{{"title_ar", "جلسة الموازنة العامة"}, {"title_en", "The state budget"},
                                          {"scheduled_at_ms", nullptr}}.dump(), as_producer);
    INFO(renamed.body);
    REQUIRE(renamed.status == 200);
    CHECK(json_body(renamed).value()["title_ar"] == "جلسة الموازنة العامة");
    CHECK(json_body(renamed).value()["scheduled_at"].is_null());
    CHECK(column(db, row) == "جلسة الموازنة العامة|The state budget|NULL");

    REQUIRE(http_post_json(port, path + "/live", json::object(), as_producer).status == 200);
    auto live = viewer->recv_type("session", 5000);
    REQUIRE(live);
    CHECK((*live)["session"]["title_ar"] == "جلسة الموازنة العامة");
    REQUIRE(studio->recv_type("snapshot", 5000));

    THEN("a rename on air is pushed to every viewer and studio, the other title kept") {
      auto again = patch(port, path, json{{"title_ar", "  الموازنة:   الأسئلة  "}}.dump(), as_producer);
      INFO(again.body);
      REQUIRE(again.status == 200);
      auto v = viewer->recv_type("session", 5000);
      REQUIRE(v);
      CHECK((*v)["session"]["id"] == sid);
      CHECK((*v)["session"]["title_ar"] == "الموازنة: الأسئلة");  // sanitized as a name
      CHECK((*v)["session"]["title_en"] == "The state budget");
      CHECK((*v)["session"]["status"] == "live");
      auto s = studio->recv_type("session", 5000);
      REQUIRE(s);
      CHECK((*s)["session"]["title_ar"] == "الموازنة: الأسئلة");
      CHECK(column(db, row) == "الموازنة: الأسئلة|The state budget|NULL");
      // A new viewer is welcomed with it too, and the list shows it.
      auto late = connect(port, "sabla.viewer.v1");
      auto welcome = late->recv_type("welcome", 5000);
      REQUIRE(welcome);
      CHECK((*welcome)["session"]["title_ar"] == "الموازنة: الأسئلة");
      auto list = json_body(http_get(port, "/api/v1/sessions", as_producer)).value()["sessions"];
      bool listed = false;
      for (const auto& x : list) listed = listed || (x["id"] == sid && x["title_ar"] == "الموازنة: الأسئلة" && x["current"] == true);
      CHECK(listed);
      // The end keeps the new titles (a status change writes the status only).
      REQUIRE(http_post_json(port, path + "/end", json::object(), as_producer).status == 200);
      CHECK(column(db, row) == "الموازنة: الأسئلة|The state budget|NULL");
      CHECK(column(db, "SELECT status FROM sessions WHERE id = " + std::to_string(sid)) == "ended");
    }
  }

  WHEN("the input is bad, or the caller may not, or the session does not exist") {
    const std::string before = column(db, row);
    std::string long_title;  // 201 Arabic letters: one over the limit
    for (int i = 0; i < 201; ++i) long_title += "ب";
    struct Bad {
      std::string body;
      std::string says;
    };
    const std::vector<Bad> bad = {
        {json{{"title_ar", "   "}, {"title_en", ""}}.dump(), "needs title_ar or title_en"},
        {json{{"title_ar", long_title}}.dump(), "longer than 200"},
        {std::string("{\"title_ar\": \"\xC3\x28\"}"), ""},  // invalid UTF-8 inside the string
        {json{{"title_en", 42}}.dump(), "title_en must be a string"},
        {json{{"scheduled_at_ms", "tomorrow"}}.dump(), "scheduled_at_ms"},
        {json{{"scheduled_at_ms", -5}}.dump(), "scheduled_at_ms"},
        {json::object().dump(), "send title_ar"},
        {"[1, 2]", "JSON object"},
        {"{not json", "malformed"},
    };
    THEN("each gets a clear 400 and the stored session is untouched") {
      for (const auto& b : bad) {
        auto r = patch(port, path, b.body, as_producer);
        INFO(b.body << " -> " << r.status << " " << r.body);
        CHECK(r.status == 400);
        CHECK(error_code(r) == "invalid");
        CHECK(error_message(r).find(b.says) != std::string::npos);
      }
      CHECK(column(db, row) == before);
    }
    THEN("a moderator gets 403, a cookie from another origin 403, an unknown id 404") {
      const std::string body = json{{"title_en", "Hijacked"}}.dump();
      auto mod = patch(port, path, body, {{"Authorization", "Bearer " + token}});
      CHECK(mod.status == 403);
      CHECK(error_code(mod) == "forbidden");
      CHECK(patch(port, path, body, {{"Cookie", cookie}, {"Origin", "http://evil.example"}}).status == 403);
      CHECK(patch(port, path, body, {}).status == 401);
      auto missing = patch(port, "/api/v1/sessions/987654", body, as_producer);
      CHECK(missing.status == 404);
      CHECK(error_code(missing) == "not_found");
      CHECK(http_get(port, path, as_producer).status == 405);
      CHECK(column(db, row) == before);
    }
  }
}
