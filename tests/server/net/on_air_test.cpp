// On-air control through a real server (in-process, so its clock is a
// ManualClock: rotation is driven by advancing time, not by sleeping) with
// real WebSocket clients on 127.0.0.1.
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
  TempDir dir{"sabla-onair"};
  ManualClock clock;
  Config config;
  std::unique_ptr<Server> server;
  std::string password;

  InProcess() {
    config.data_dir = dir.path();
    config.bind = "127.0.0.1";
    config.port = 0;
    config.video_source = "off";
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
  std::string login(const std::string& name, const std::string& pw) {
    auto r = http_post_json(port(), "/api/v1/login", json{{"name", name}, {"password", pw}}, {{"Origin", origin()}});
    REQUIRE(r.status == 200);
    return cookie_from(r, "sabla_session");
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

// Posts a comment as `viewer` and approves it from `studio`; returns its id.
int64_t approved_comment(WsClient& viewer, WsClient& studio, const std::string& client_id, const std::string& text) {
  viewer.send_json({{"type", "comment"}, {"client_id", client_id}, {"text", text}});
  auto ack = viewer.recv_type("ack", 5000);
  REQUIRE(ack);
  const int64_t id = (*ack)["id"];
  studio.send_json({{"type", "approve"}, {"id", id}, {"op", "approve-" + client_id}});
  REQUIRE(studio.recv_until([&](const json& j) { return j.value("op", "") == "approve-" + client_id; }, 5000));
  return id;
}

auto overlay_with(int64_t id) {
  return [id](const json& j) {
    return j.value("type", "") == "overlay" && j["state"]["comments"].size() == 1 &&
           j["state"]["comments"][0]["id"] == id;
  };
}
auto overlay_empty() {
  return [](const json& j) { return j.value("type", "") == "overlay" && j["state"]["comments"].empty(); };
}

}  // namespace

SCENARIO("a producer airs, rotates and clears comments; every client follows", "[server][on_air]") {
  InProcess s;
  auto studio = s.connect("sabla.studio.v1", s.login("producer", s.password));
  REQUIRE(studio->recv_type("snapshot", 5000));
  auto viewer = s.connect("sabla.viewer.v1");
  REQUIRE(viewer->recv_type("welcome", 5000));
  auto overlay = s.connect("sabla.overlay.v1");
  auto first = overlay->recv_type("overlay", 5000);
  REQUIRE(first);
  CHECK((*first)["state"]["comments"].empty());

  const int64_t a = approved_comment(*viewer, *studio, "a", "ما هي خطة تطوير الطرق؟");
  const int64_t b = approved_comment(*viewer, *studio, "b", "When will the bridge open?");

  WHEN("a comment is aired") {
    studio->send_json({{"type", "air"}, {"id", a}, {"op", "air-a"}});
    THEN("overlay, viewer and studio clients all get the new state") {
      auto on = overlay->recv_until(overlay_with(a), 5000);
      REQUIRE(on);
      CHECK((*on)["state"]["comments"][0]["text"] == "ما هي خطة تطوير الطرق؟");
      CHECK((*on)["state"]["comments"][0]["dir"] == "rtl");
      CHECK(viewer->recv_until(overlay_with(a), 5000));
      CHECK(studio->recv_until(overlay_with(a), 5000));
      CHECK(s.rows("SELECT count(*) FROM on_air_events WHERE kind='aired' AND comment_id=" + std::to_string(a)) == 1);
    }
    AND_WHEN("it is cleared") {
      REQUIRE(overlay->recv_until(overlay_with(a), 5000));
      studio->send_json({{"type", "clear"}});
      THEN("the overlay empties and the archive records it") {
        CHECK(overlay->recv_until(overlay_empty(), 5000));
        CHECK(s.rows("SELECT count(*) FROM on_air_events WHERE kind='cleared' AND comment_id=" + std::to_string(a)) == 1);
      }
    }
    AND_WHEN("a second one is added and the first is taken off screen alone") {
      REQUIRE(overlay->recv_until(overlay_with(a), 5000));
      studio->send_json({{"type", "air"}, {"id", b}, {"add", true}});
      REQUIRE(overlay->recv_until(
          [](const json& j) { return j.value("type", "") == "overlay" && j["state"]["comments"].size() == 2; }, 5000));
      studio->send_json({{"type", "unair"}, {"id", a}, {"op", "off-a"}});
      auto ok = studio->recv_until([](const json& j) { return j.value("op", "") == "off-a"; }, 5000);
      THEN("the other stays on screen, the first stays approved for viewers, and the archive records it") {
        REQUIRE(ok);
        CHECK((*ok)["type"] == "ok");
        CHECK(overlay->recv_until(overlay_with(b), 5000));
        CHECK(s.rows("SELECT count(*) FROM on_air_events WHERE kind='cleared' AND comment_id=" + std::to_string(a)) == 1);
        CHECK(s.rows("SELECT count(*) FROM comments WHERE status='approved' AND id=" + std::to_string(a)) == 1);
        auto later = s.connect("sabla.viewer.v1");
        auto w = later->recv_type("welcome", 5000);
        REQUIRE(w);
        bool in_feed = false;
        for (const auto& c : (*w)["feed"]) in_feed = in_feed || c["id"] == a;
        CHECK(in_feed);
        // Not on screen any more: a second take-off is a conflict, an unknown id not found.
        studio->send_json({{"type", "unair"}, {"id", a}, {"op", "again"}});
        auto again = studio->recv_until([](const json& j) { return j.value("op", "") == "again"; }, 5000);
        REQUIRE(again);
        CHECK((*again)["code"] == "conflict");
        studio->send_json({{"type", "unair"}, {"id", 999999}, {"op", "nobody"}});
        auto nobody = studio->recv_until([](const json& j) { return j.value("op", "") == "nobody"; }, 5000);
        REQUIRE(nobody);
        CHECK((*nobody)["code"] == "not_found");
      }
    }
    AND_WHEN("the aired comment is hidden by a moderator") {
      REQUIRE(overlay->recv_until(overlay_with(a), 5000));
      studio->send_json({{"type", "hide"}, {"id", a}});
      THEN("it leaves the screen") { CHECK(overlay->recv_until(overlay_empty(), 5000)); }
    }
  }
  WHEN("two comments are queued for 10 s each") {
    studio->send_json({{"type", "queue_air"}, {"id", a}, {"seconds", 10}});
    studio->send_json({{"type", "queue_air"}, {"id", b}, {"seconds", 10}});
    REQUIRE(overlay->recv_until(overlay_with(a), 5000));
    auto rotation = studio->recv_until(
        [](const json& j) { return j.value("type", "") == "rotation" && j["items"].size() == 1; }, 5000);
    REQUIRE(rotation);
    THEN("time, not sleep, moves the rotation on, and it clears after the last") {
      s.clock.advance(9'999);
      CHECK_FALSE(overlay->recv_until(overlay_with(b), 300));
      s.clock.advance(1);
      CHECK(overlay->recv_until(overlay_with(b), 5000));
      s.clock.advance(10'000);
      CHECK(overlay->recv_until(overlay_empty(), 5000));
      CHECK(s.rows("SELECT count(*) FROM on_air_events WHERE kind='replaced' AND comment_id=" + std::to_string(a)) == 1);
      // Offsets are on the program timeline of the live session.
      CHECK(s.rows("SELECT count(*) FROM on_air_events WHERE stream_offset_ms IS NULL") == 0);
    }
  }
  WHEN("a pending comment or a viewer tries to air") {
    viewer->send_json({{"type", "comment"}, {"client_id", "p"}, {"text", "pending one"}});
    auto ack = viewer->recv_type("ack", 5000);
    REQUIRE(ack);
    studio->send_json({{"type", "air"}, {"id", (*ack)["id"]}, {"op", "bad"}});
    auto refused = studio->recv_until([](const json& j) { return j.value("op", "") == "bad"; }, 5000);
    viewer->send_json({{"type", "air"}, {"id", a}});
    auto viewer_refused = viewer->recv_type("error", 5000);
    THEN("both are refused and nothing is on screen") {
      REQUIRE(refused);
      CHECK((*refused)["code"] == "conflict");
      REQUIRE(viewer_refused);
      CHECK((*viewer_refused)["code"] == "invalid");
      CHECK(s.rows("SELECT count(*) FROM on_air_events") == 0);
    }
  }
  WHEN("lower third, ticker and theme are set, and the server restarts") {
    studio->send_json({{"type", "air"}, {"id", a}});
    studio->send_json({{"type", "lower_third"}, {"name_ar", "معالي الوزير"}, {"title_en", "Minister of Transport"}});
    studio->send_json({{"type", "ticker"}, {"text", "الجلسة مباشرة"}});
    studio->send_json({{"type", "theme"}, {"preset", "dark"}, {"position", "top"}, {"op", "th"}});
    REQUIRE(studio->recv_until([](const json& j) { return j.value("op", "") == "th"; }, 5000));
    studio->send_json({{"type", "theme"}, {"position", "middle"}, {"op", "bad-theme"}});
    auto bad = studio->recv_until([](const json& j) { return j.value("op", "") == "bad-theme"; }, 5000);
    REQUIRE(bad);
    CHECK((*bad)["code"] == "invalid");
    studio.reset();
    viewer.reset();
    overlay.reset();
    s.restart();
    THEN("the overlay comes back as it was") {
      auto o = s.connect("sabla.overlay.v1");
      auto state = o->recv_type("overlay", 5000);
      REQUIRE(state);
      const json& st = (*state)["state"];
      REQUIRE(st["comments"].size() == 1);
      CHECK(st["comments"][0]["id"] == a);
      CHECK(st["lower_third"]["name_ar"] == "معالي الوزير");
      CHECK(st["ticker"] == "الجلسة مباشرة");
      CHECK(st["theme"]["name"] == "dark");
      CHECK(st["theme"]["position"] == "top");
    }
  }
}

SCENARIO("moderators cannot change what is on air", "[server][on_air]") {
  InProcess s;
  std::string out;
  {
    FILE* p = popen((std::string(SABLA_BINARY) + " user add mona --role moderator --data " + s.dir.path()).c_str(), "r");
    REQUIRE(p);
    char buf[256];
    while (fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  auto pos = out.find("password: ");
  REQUIRE(pos != std::string::npos);
  std::string pw = out.substr(pos + 10, out.find('\n', pos) - pos - 10);
  auto studio = s.connect("sabla.studio.v1", s.login("mona", pw));
  REQUIRE(studio->recv_type("snapshot", 5000));
  studio->send_json({{"type", "clear"}, {"op", "c"}});
  auto r = studio->recv_until([](const json& j) { return j.value("op", "") == "c"; }, 5000);
  REQUIRE(r);
  CHECK((*r)["code"] == "forbidden");
  studio->send_json({{"type", "unair"}, {"id", 1}, {"op", "u"}});
  auto u = studio->recv_until([](const json& j) { return j.value("op", "") == "u"; }, 5000);
  REQUIRE(u);
  CHECK((*u)["code"] == "forbidden");
}
