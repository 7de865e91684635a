// Exports over HTTP from a real server: roles, formats, and a streamed
// (chunked) download larger than one chunk.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <cstdio>

#include "support/http_client.h"
#include "support/server_process.h"

using namespace sabla::test;
using nlohmann::json;

namespace {

std::string cli(const std::string& args) {
  std::string out;
  FILE* p = popen((std::string(SABLA_BINARY) + " " + args).c_str(), "r");
  if (!p) return out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  pclose(p);
  return out;
}

std::string secret(const std::string& out, const std::string& prefix) {
  auto pos = out.find(prefix);
  if (pos == std::string::npos) return {};
  return out.substr(pos + prefix.size(), out.find('\n', pos) - pos - prefix.size());
}

std::string login(int port, const std::string& name, const std::string& pw) {
  auto r = http_post_json(port, "/api/v1/login", json{{"name", name}, {"password", pw}});
  REQUIRE(r.status == 200);
  return cookie_from(r, "sabla_session");
}

}  // namespace

SCENARIO("archivists download exports over HTTP", "[server][archive]") {
  ServerProcess srv;
  REQUIRE(srv.start());
  const int port = srv.port();
  const std::string archivist_pw = secret(cli("user add nura --role archivist --data " + srv.data_dir()), "password: ");
  const std::string moderator_pw = secret(cli("user add mona --role moderator --data " + srv.data_dir()), "password: ");
  REQUIRE_FALSE(archivist_pw.empty());
  const std::string archivist = login(port, "nura", archivist_pw);

  // 20,000 comments written straight into the live database (WAL allows it):
  // far more than one export chunk.
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((srv.data_dir() + "/sabla.db").c_str(), &db) == SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    REQUIRE(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db,
                               "INSERT INTO comments (session_id, display_name, text, direction, received_at_ms, status) "
                               "VALUES (1, 'سالم', ?, 'rtl', ?, 'approved')",
                               -1, &st, nullptr) == SQLITE_OK);
    for (int i = 0; i < 20000; ++i) {
      std::string text = "تعليق رقم " + std::to_string(i) + ", \"مقتبس\"";
      sqlite3_bind_text(st, 1, text.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(st, 2, 1'700'000'000'000 + i);
      REQUIRE(sqlite3_step(st) == SQLITE_DONE);
      sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    REQUIRE(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }

  auto csv = http_get(port, "/api/v1/sessions/1/export?format=csv", {{"Cookie", archivist}});
  REQUIRE(csv.status == 200);
  CHECK(header(csv, "content-type").find("text/csv") != std::string::npos);
  CHECK(header(csv, "content-disposition").find("attachment; filename=") == 0);
  CHECK(csv.body.rfind("\xEF\xBB\xBF", 0) == 0);  // BOM for Excel
  CHECK(csv.body.find("تعليق رقم 19999") != std::string::npos);
  size_t rows = 0;
  for (char c : csv.body) rows += c == '\n';
  CHECK(rows >= 20001);  // header + every comment (quoted newlines would only add)

  auto vtt = http_get(port, "/api/v1/sessions/1/export?format=vtt", {{"Cookie", archivist}});
  CHECK(vtt.status == 200);
  CHECK(vtt.body.rfind("WEBVTT", 0) == 0);

  CHECK(http_get(port, "/api/v1/sessions/1/export?format=xls", {{"Cookie", archivist}}).status == 400);
  CHECK(http_get(port, "/api/v1/sessions/999/export?format=csv", {{"Cookie", archivist}}).status == 404);
  CHECK(http_get(port, "/api/v1/sessions/1/export?format=csv").status == 401);
  CHECK(http_get(port, "/api/v1/sessions/1/export?format=csv", {{"Cookie", login(port, "mona", moderator_pw)}}).status == 403);
  // Retention per session: set, refused when out of range, cleared.
  Headers as_archivist = {{"Cookie", archivist}, {"Origin", "http://127.0.0.1:" + std::to_string(port)}};
  auto set = http_post_json(port, "/api/v1/sessions/1/retention", json{{"days", 30}}, as_archivist);
  CHECK(set.status == 200);
  CHECK(json_body(set).value()["retention_days"] == 30);
  auto summaries = http_get(port, "/api/v1/archive/sessions", {{"Cookie", archivist}});
  REQUIRE(summaries.status == 200);
  CHECK(json_body(summaries).value()["sessions"][0]["retention_days"] == 30);
  CHECK(http_post_json(port, "/api/v1/sessions/1/retention", json{{"days", 0}}, as_archivist).status == 400);
  CHECK(http_post_json(port, "/api/v1/sessions/99/retention", json{{"days", 5}}, as_archivist).status == 404);
  CHECK(http_post_json(port, "/api/v1/sessions/1/retention", json{{"days", nullptr}}, as_archivist).status == 200);
  // The server kept serving throughout.
  CHECK(http_get(port, "/api/v1/health").status == 200);
}
