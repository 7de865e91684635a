// Authentication and authorisation of the real `sabla serve`, beyond what
// server_test.cpp already covers (studio upgrade without/with a forged cookie, a
// foreign or missing Origin with a cookie, a wrong password, /me without a cookie,
// bridge ingest without a token, a moderator token creating a session, a cross-origin
// cookie POST, a viewer's `hide`): bearer tokens on every route and on the studio
// upgrade, logged-out cookies, look-alike origins, roles, every studio action tried
// by a viewer or an overlay, login throttling, and secrets that must never be logged
// or stored in clear.
#include <chrono>
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "support/clients.h"
#include "support/http_client.h"
#include "support/command.h"
#include "support/server_process.h"
#include "support/ws_client.h"

using namespace sabla::test;
using nlohmann::json;

namespace {

std::string create_token(const ServerProcess& srv, const std::string& name, const std::string& role) {
  std::string out = run_command(std::string(SABLA_BINARY) + " token create " + name + " --role " + role + " --data " +
                        srv.data_dir() + " 2>/dev/null");
  std::string token = value_after(out, "token: ");
  INFO(out);
  REQUIRE(token.size() >= 32);
  return token;
}

std::string create_account(const ServerProcess& srv, const std::string& name, const std::string& role) {
  std::string out = run_command(std::string(SABLA_BINARY) + " user add " + name + " --role " + role + " --data " +
                        srv.data_dir() + " 2>/dev/null");
  std::string password = value_after(out, "password: ");
  INFO(out);
  REQUIRE(password.size() >= 8);
  return password;
}

int64_t count_rows(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return -1;
  sqlite3_stmt* st = nullptr;
  int64_t n = -1;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

std::vector<std::string> column(const std::string& db_path, const std::string& sql) {
  std::vector<std::string> out;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return out;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK)
    while (sqlite3_step(st) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(st, 0);
      out.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
    }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

HandshakeResult studio_upgrade(int port, std::optional<std::string> cookie, std::optional<std::string> bearer,
                               std::optional<std::string> origin) {
  WsOptions o;
  o.port = port;
  o.subprotocol = "sabla.studio.v1";
  o.cookie = std::move(cookie);
  o.bearer = std::move(bearer);
  o.origin = std::move(origin);
  return WsClient::try_connect(o);
}

}  // namespace

SCENARIO("HTTP API and studio upgrade refuse missing, wrong and stale credentials", "[auth][net]") {
  ServerProcess srv;
  std::string err;
  REQUIRE(srv.start(&err));
  const int port = srv.port();
  const std::string password = srv.initial_password(2000);
  REQUIRE_FALSE(password.empty());
  const std::string origin = same_origin(port);

  // Every route that needs a login, with the method it expects.
  const std::vector<std::pair<std::string, std::string>> guarded = {
      {"GET", "/api/v1/sessions"},
      {"POST", "/api/v1/sessions"},
      {"POST", "/api/v1/sessions/1/live"},
      {"POST", "/api/v1/sessions/1/end"},
      {"POST", "/api/v1/sessions/1/comments"},
      {"POST", "/api/v1/sessions/1/retention"},
      {"GET", "/api/v1/sessions/1/export?format=csv"},
      {"GET", "/api/v1/archive/sessions"},
      {"GET", "/api/v1/archive/sessions/1/comments?q=x"},
      {"GET", "/api/v1/archive/sessions/1/timeline"},
      {"GET", "/api/v1/me"},
  };
  auto call = [&](const std::string& method, const std::string& path, const Headers& headers) {
    HttpRequest req;
    req.port = port;
    req.method = method;
    req.path = path;
    req.headers = headers;
    if (method == "POST") req.body = R"({"title_en":"x","days":1,"source":"x","author":"a","text":"t","external_id":"e"})";
    return http_request(req);
  };

  SECTION("no credentials: 401 on every guarded route") {
    for (const auto& [method, path] : guarded) {
      INFO(method << " " << path);
      CHECK(call(method, path, {{"Origin", origin}}).status == 401);
    }
  }
  SECTION("a wrong bearer token or a forged cookie: 401 on every guarded route") {
    const std::string real = create_token(srv, "bridge", "producer");
    std::string wrong = real;
    wrong.back() = wrong.back() == 'A' ? 'B' : 'A';  // one character off
    for (const auto& [method, path] : guarded) {
      INFO(method << " " << path);
      CHECK(call(method, path, {{"Authorization", "Bearer " + wrong}}).status == 401);
      CHECK(call(method, path, {{"Authorization", "Bearer "}}).status == 401);
      CHECK(call(method, path, {{"Authorization", "Basic cHJvZHVjZXI6eA=="}}).status == 401);
      CHECK(call(method, path, {{"Cookie", "sabla_session=" + std::string(43, 'A')}, {"Origin", origin}}).status == 401);
    }
    // The real token works where its role allows: proof the 401s were about the token.
    CHECK(call("GET", "/api/v1/sessions", {{"Authorization", "Bearer " + real}}).status == 200);
  }
  SECTION("studio upgrade with bearer tokens") {
    const std::string mod_token = create_token(srv, "automation", "moderator");
    CHECK(studio_upgrade(port, std::nullopt, mod_token + "x", std::nullopt).status_code == 401);
    CHECK(studio_upgrade(port, std::nullopt, "", std::nullopt).status_code == 401);
    // A token is not a browser credential: no Origin needed, but a foreign one is refused.
    CHECK(studio_upgrade(port, std::nullopt, mod_token, std::nullopt).status_code == 101);
    CHECK(studio_upgrade(port, std::nullopt, mod_token, std::string("http://evil.example")).status_code == 403);
    const std::string archive_token = create_token(srv, "archive-bot", "archivist");
    CHECK(studio_upgrade(port, std::nullopt, archive_token, std::nullopt).status_code == 403);  // role cannot moderate
  }
  SECTION("a logged-out cookie is dead for HTTP and for the studio upgrade") {
    const std::string cookie = login_cookie(port, "producer", password);
    REQUIRE(http_get(port, "/api/v1/me", {{"Cookie", cookie}}).status == 200);
    REQUIRE(studio_upgrade(port, cookie, std::nullopt, origin).status_code == 101);
    // Right after the answer, not eventually: a logout that returned must be in force.
    auto out = http_post_json(port, "/api/v1/logout", json::object(), {{"Cookie", cookie}, {"Origin", origin}});
    REQUIRE(out.status == 200);
    CHECK(header(out, "set-cookie").find("Max-Age=0") != std::string::npos);
    CHECK(http_get(port, "/api/v1/me", {{"Cookie", cookie}}).status == 401);
    CHECK(studio_upgrade(port, cookie, std::nullopt, origin).status_code == 401);
    CHECK(count_rows(srv.data_dir() + "/sabla.db", "SELECT count(*) FROM auth_sessions") == 0);
  }
  SECTION("an archivist's cookie cannot open the studio") {
    const std::string archivist = create_account(srv, "arch", "archivist");
    const std::string cookie = login_cookie(port, "arch", archivist);
    CHECK(studio_upgrade(port, cookie, std::nullopt, origin).status_code == 403);
    CHECK(http_get(port, "/api/v1/archive/sessions", {{"Cookie", cookie}}).status == 200);
  }
  SECTION("look-alike origins are refused for the studio upgrade, the login and cookie POSTs") {
    const std::string cookie = login_cookie(port, "producer", password);
    const std::string p = std::to_string(port);
    const std::vector<std::string> look_alikes = {
        "null", "http://127.0.0.1", "http://127.0.0.1:1", "https://127.0.0.1:" + p,
        "http://127.0.0.1:" + p + ".evil.example", "http://evil.example/http://127.0.0.1:" + p,
        "http://localhost:" + p, "http://127.0.0.1:" + p + "x", origin + "/", "http://127.0.0.1:0" + p};
    for (const std::string& bad : look_alikes) {
      INFO("Origin: '" << bad << "'");
      CHECK(studio_upgrade(port, cookie, std::nullopt, bad).status_code == 403);
      CHECK(http_post_json(port, "/api/v1/login", json{{"name", "producer"}, {"password", password}},
                           {{"Origin", bad}}).status == 403);
      CHECK(http_post_json(port, "/api/v1/sessions", json{{"title_en", "x"}}, {{"Cookie", cookie}, {"Origin", bad}})
                .status == 403);
    }
    CHECK(count_rows(srv.data_dir() + "/sabla.db", "SELECT count(*) FROM sessions WHERE title_en='x'") == 0);
  }
}

SCENARIO("viewer and overlay frames that imitate studio actions do nothing", "[auth][net]") {
  ServerProcess srv;
  REQUIRE(srv.start());
  const int port = srv.port();
  const std::string db = srv.data_dir() + "/sabla.db";
  auto studio = open_studio(port, login_cookie(port, "producer", srv.initial_password(2000)));
  auto viewer = open_viewer(port);

  // One pending and one approved comment to aim at.
  REQUIRE(viewer->send_json({{"type", "comment"}, {"client_id", "p"}, {"text", "pending one"}}));
  auto ack_pending = viewer->recv_type("ack", 5000);
  REQUIRE(ack_pending);
  REQUIRE(viewer->send_json({{"type", "comment"}, {"client_id", "a"}, {"text", "approved one"}}));
  auto ack_approved = viewer->recv_type("ack", 5000);
  REQUIRE(ack_approved);
  const int64_t pending_id = (*ack_pending)["id"], approved_id = (*ack_approved)["id"];
  REQUIRE(studio->send_json({{"type", "approve"}, {"id", approved_id}, {"op", "setup"}}));
  REQUIRE(studio->recv_until([](const json& j) { return j.value("op", "") == "setup"; }, 5000));
  REQUIRE(studio->recv_type("updated", 5000));  // the setup's own broadcast
  studio->drain(200, 2000);
  const int64_t viewer_id = count_rows(db, "SELECT max(id) FROM viewers");

  auto snapshot = [&] {
    std::ostringstream s;
    for (const char* sql :
         {"SELECT count(*) FROM comments WHERE status='pending'", "SELECT count(*) FROM comments WHERE status='approved'",
          "SELECT count(*) FROM comments WHERE status NOT IN ('pending','approved')",
          "SELECT count(*) FROM on_air_events", "SELECT count(*) FROM viewers WHERE banned_until_ms > 0",
          "SELECT count(*) FROM sessions"})
      s << count_rows(db, sql) << ' ';
    for (const auto& t : column(db, "SELECT text FROM comments ORDER BY id")) s << t << '|';
    return s.str();
  };
  const std::string before = snapshot();

  const std::vector<json> actions = {
      {{"type", "approve"}, {"id", pending_id}},
      {{"type", "reject"}, {"id", pending_id}, {"reason", "x"}},
      {{"type", "edit"}, {"id", approved_id}, {"text", "defaced"}},
      {{"type", "hide"}, {"id", approved_id}},
      {{"type", "ban"}, {"viewer", viewer_id}, {"seconds", 3600}, {"ip", true}},
      {{"type", "unban"}, {"viewer", viewer_id}},
      {{"type", "settings"}, {"hold_for_review", false}, {"blocked_words", json::array({"a"})}},
      {{"type", "air"}, {"id", approved_id}},
      {{"type", "queue_air"}, {"id", approved_id}, {"seconds", 5}},
      {{"type", "clear"}},
      {{"type", "lower_third"}, {"name_en", "hijacked"}},
      {{"type", "ticker"}, {"text", "hijacked"}},
      {{"type", "theme"}, {"preset", "dark"}},
      // Dressed up as a studio with role fields of its own.
      {{"type", "approve"}, {"id", pending_id}, {"role", "producer"}, {"me", {{"role", "producer"}}}, {"op", "x"}},
  };
  SECTION("from a viewer: each gets an `invalid` error") {
    for (const auto& a : actions) {
      INFO(a.dump());
      REQUIRE(viewer->send_json(a));
      auto e = viewer->recv_type("error", 5000);
      REQUIRE(e);
      CHECK((*e)["code"] == "invalid");
    }
  }
  SECTION("from an overlay: each gets an error, the protocol is read-only") {
    WsOptions o;
    o.port = port;
    o.subprotocol = "sabla.overlay.v1";
    auto overlay = WsClient::connect(o);
    REQUIRE(overlay);
    for (const auto& a : actions) {
      INFO(a.dump());
      REQUIRE(overlay->send_json(a));
      auto e = overlay->recv_type("error", 5000);
      REQUIRE(e);
      CHECK((*e)["code"] == "invalid");
    }
  }
  // The studio heard of none of it, and nothing changed on disk.
  for (const auto& m : studio->drain(300, 2000)) {
    INFO(m.dump());
    CHECK(json_type(m) != "updated");
    CHECK(json_type(m) != "settings");
    CHECK(json_type(m) != "viewer");
    CHECK(json_type(m) != "overlay");
  }
  CHECK(snapshot() == before);
  // And the viewer can still do what viewers do.
  REQUIRE(viewer->send_json({{"type", "vote"}, {"id", approved_id}}));
  CHECK(viewer->recv_type("votes", 5000));
}

SCENARIO("login brute force is throttled per address", "[auth][net]") {
  ServerProcess srv;
  REQUIRE(srv.start());
  const int port = srv.port();
  const std::string password = srv.initial_password(2000);
  const std::string origin = same_origin(port);
  // The default budget is 10 attempts a minute per address.
  int unauthorized = 0, throttled = 0;
  std::string retry_after;
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 30; ++i) {
    auto r = http_post_json(port, "/api/v1/login", json{{"name", "producer"}, {"password", "guess-" + std::to_string(i)}},
                            {{"Origin", origin}});
    if (r.status == 401) ++unauthorized;
    if (r.status == 429) {
      ++throttled;
      retry_after = header(r, "retry-after");
    }
  }
  // The bucket refills one attempt every 6 s: a loaded machine (each wrong
  // password costs an Argon2 check) may earn one or two more meanwhile.
  const auto took_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started).count();
  INFO("30 attempts took " << took_s << " s");
  CHECK(unauthorized >= 10);
  CHECK(unauthorized <= 10 + took_s / 6);
  CHECK(throttled == 30 - unauthorized);
  CHECK(std::atoi(retry_after.c_str()) >= 1);
  // While throttled even the right password is refused: guessing cannot go faster.
  auto right = http_post_json(port, "/api/v1/login", json{{"name", "producer"}, {"password", password}},
                              {{"Origin", origin}});
  CHECK(right.status == 429);
  CHECK(cookie_from(right, "sabla_session").empty());
  // Throttling is about logins: other traffic from the address is served.
  CHECK(http_get(port, "/api/v1/health").status == 200);
  CHECK(open_viewer(port));
}

SCENARIO("passwords, cookies and tokens are stored hashed and never logged", "[auth][net]") {
  // Debug logging: the most the server ever writes.
  ServerProcess srv({}, {{"SABLA_LOG_LEVEL", "debug"}});
  REQUIRE(srv.start());
  const int port = srv.port();
  const std::string origin = same_origin(port);
  const std::string password = srv.initial_password(2000);
  REQUIRE(password.size() >= 8);

  std::vector<std::pair<std::string, std::string>> secrets;  // what, value
  secrets.emplace_back("initial password", password);
  const std::string cookie = login_cookie(port, "producer", password);
  secrets.emplace_back("session cookie", cookie.substr(cookie.find('=') + 1));
  const std::string mod_password = create_account(srv, "mona", "moderator");
  secrets.emplace_back("moderator password", mod_password);
  const std::string mod_cookie = login_cookie(port, "mona", mod_password);
  secrets.emplace_back("moderator cookie", mod_cookie.substr(mod_cookie.find('=') + 1));
  const std::string token = create_token(srv, "bridge", "producer");
  secrets.emplace_back("API token", token);
  const std::string wrong_password = "Wr0ng-Passw0rd-Attempt-7731";
  secrets.emplace_back("a wrong password", wrong_password);
  CHECK(http_post_json(port, "/api/v1/login", json{{"name", "producer"}, {"password", wrong_password}},
                       {{"Origin", origin}}).status == 401);
  const std::string bad_token = "bad-token-0123456789abcdef0123456789abcdef";
  secrets.emplace_back("a wrong token", bad_token);
  CHECK(http_get(port, "/api/v1/sessions", {{"Authorization", "Bearer " + bad_token}}).status == 401);

  // Use them all, including the failure paths that tend to log.
  CHECK(http_get(port, "/api/v1/sessions", {{"Authorization", "Bearer " + token}}).status == 200);
  CHECK(studio_upgrade(port, cookie, std::nullopt, std::string("http://evil.example")).status_code == 403);
  auto studio = open_studio(port, cookie);
  CHECK(studio_upgrade(port, std::nullopt, token, std::nullopt).status_code == 101);
  auto viewer = open_viewer(port);
  REQUIRE(viewer->send_json({{"type", "hello"}, {"name", "sara"}}));
  auto welcome = viewer->recv_type("welcome", 5000);
  REQUIRE(welcome);
  const std::string viewer_token = (*welcome)["token"];
  secrets.emplace_back("viewer token", viewer_token);
  // A comment makes the viewer persistent (its token hash goes to disk).
  REQUIRE(viewer->send_json({{"type", "comment"}, {"client_id", "s"}, {"text", "hello"}}));
  REQUIRE(viewer->recv_type("ack", 5000));
  CHECK(http_post_json(port, "/api/v1/logout", json::object(), {{"Cookie", mod_cookie}, {"Origin", origin}}).status == 200);
  studio.reset();
  viewer.reset();

  // Stop the server so every log line is flushed and the WAL is checkpointed into the file.
  srv.terminate();
  const std::string db = srv.data_dir() + "/sabla.db";

  SECTION("the log holds none of them (the first start prints the initial password once, by design)") {
    std::string log = srv.stdout_text() + srv.stderr_text() + file_bytes(srv.log_path());
    const std::string announced = "password: " + password;
    // The one deliberate appearance: the first-start announcement, on stdout, once.
    CHECK(srv.stdout_text().find(announced) != std::string::npos);
    for (std::size_t at; (at = log.find(announced)) != std::string::npos;) log.erase(at, announced.size());
    for (const auto& [what, value] : secrets) {
      INFO(what);
      CHECK(log.find(value) == std::string::npos);
    }
  }
  SECTION("the database files hold none of them in clear") {
    const std::string bytes = file_bytes(db) + file_bytes(db + "-wal") + file_bytes(db + "-journal");
    REQUIRE(bytes.size() > 4096);
    for (const auto& [what, value] : secrets) {
      INFO(what);
      CHECK(bytes.find(value) == std::string::npos);
    }
  }
  SECTION("the stored forms are slow password hashes and SHA-256 digests") {
    for (const auto& h : column(db, "SELECT password_hash FROM accounts")) {
      INFO(h);
      CHECK(h.rfind("$argon2", 0) == 0);
      CHECK(h != password);
      CHECK(h != mod_password);
    }
    auto is_hex_digest = [](const std::string& s) {
      return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
    };
    for (const char* sql : {"SELECT token_hash FROM api_tokens", "SELECT token_hash FROM auth_sessions",
                            "SELECT token_hash FROM viewers"}) {
      auto hashes = column(db, sql);
      INFO(sql);
      CHECK_FALSE(hashes.empty());
      for (const auto& h : hashes) CHECK(is_hex_digest(h));
    }
  }
}
